// test/platforms/medusa/bench.js — a bench worker of `make bench-platforms`
// (test/platforms/bench.sh), run as `medusa exec` (one Medusa, its modules loaded once) with
// Medusa connected as the storefront's role; answers the coordinator's commands
// (test/platforms/bench-lib.js) with timed calls of Medusa's own code:
//   addToCartWorkflow   the store route POST /store/carts/:id/line-items: Medusa's workflow
//                       (one module call per step, each a transaction of its own)
//   addLineItems        the cart module's cartModule.addLineItems(cart_id, [item])
//
// MEDUSA_BENCH_VARIANT:
//   plain      the database without loginas (the recipe not applied), Medusa without the hook
//   installed  loginas installed and docs/platforms/medusa.sql applied; the MikroORM hook of
//              docs/examples/node/mikroorm/ on every module's entity manager, auditKnex on the
//              shared knex (as drive.js runs them); no session
//   session    the same, every call in a Login as Customer session of ada as Veronica (begun
//              by the admin backend's role, redeemed on Medusa's connection): the hook sends
//              SELECT loginas.assume(?) first in each transaction
//
// A fresh cart of Veronica's every 4 calls (the two variants of the seeded shop, twice each),
// so every run's carts look alike.  Each run checks what it did: the lines and quantities; in
// a session every call assumed it (no write outside), the new lines are stamped with it and
// their inserts are in the write log; without a session nothing is logged or stamped; without
// loginas, no extension.
'use strict';
Object.defineProperty(exports, '__esModule', { value: true });
const path = require('node:path');
const fs = require('node:fs');
const pg = require('pg');
const { Modules } = require('@medusajs/framework/utils');
const { MedusaModule } = require('@medusajs/framework/modules-sdk');
const { serve, timedCalls, wholeGroups, timeQueries } = require('../bench-lib');
const hook = require(path.resolve(__dirname, '../../../docs/examples/node/mikroorm/loginas-mikroorm.js'));

const GROUP = 4;    // calls per cart
const env = name => { const v = process.env[name]; if (!v) throw new Error(`${name} is not set`); return v; };

async function bench({ container }) {
    let handlers;
    const rc = await serve({
        ready: async () => { handlers = await setup(container); return handlers.ready(); },
        run: cmd => handlers.run(cmd),
        quit: () => handlers.quit(),
    });
    if (rc) process.exitCode = rc;
}
exports.default = bench;

async function setup(container) {
    const variant = env('MEDUSA_BENCH_VARIANT');
    if (!['plain', 'installed', 'session'].includes(variant)) throw new Error(`unknown variant ${variant}`);
    const ids = JSON.parse(fs.readFileSync(env('MEDUSA_IDS'), 'utf8'));
    const conn = user => ({ host: env('PGHOST'), port: Number(env('PGPORT')), database: env('PGDATABASE'), user });

    // in a session: the time the hook's afterTransactionStart takes (the assume round trip)
    let assumeNs = 0n;
    if (variant === 'session') {
        const orig = hook.loginasSubscriber.afterTransactionStart;
        hook.loginasSubscriber.afterTransactionStart = async function (args) {
            const t0 = process.hrtime.bigint();
            try {
                return await orig.call(this, args);
            } finally {
                assumeNs += process.hrtime.bigint() - t0;
            }
        };
    }
    let knex;
    if (variant === 'plain') {
        // the modules' shared knex, found as attachToMedusa finds it, without the hook
        const knexes = new Set();
        for (const loaded of MedusaModule.getLoadedModules()) {
            for (const service of Object.values(loaded)) {
                const em = service && service.baseRepository_ && service.baseRepository_.manager_;
                if (em && typeof em.getConnection === 'function') knexes.add(em.getConnection().getKnex());
            }
        }
        if (knexes.size !== 1) throw new Error(`${knexes.size} knex instances among Medusa's modules`);
        [knex] = knexes;
    } else {
        const attached = hook.attachToMedusa(MedusaModule);
        if (typeof attached.knex.transaction !== 'function') throw new Error('the hook found more than one knex');
        knex = hook.auditKnex(attached.knex);
    }
    if (timeQueries() === 0) throw new Error("no node-postgres Client loaded: Medusa's queries cannot be timed");
    // statements and transactions Medusa sends (every variant counts them the same way)
    const count = { stmts: 0, txns: 0 };
    knex.on('query', data => {
        count.stmts++;
        if (/^\s*BEGIN\b/i.test(data.sql || '')) count.txns++;
    });

    const su = new pg.Client(conn('postgres'));          // the checks' eyes
    await su.connect();
    const q1 = async (sql, params) => (await su.query(sql, params)).rows[0];
    const installed = Number((await q1(`SELECT count(*) AS n FROM pg_extension WHERE extname = 'loginas'`)).n) === 1;
    if (installed !== (variant !== 'plain')) throw new Error(`variant ${variant}: loginas is ${installed ? '' : 'not '}installed in ${env('PGDATABASE')}`);
    const role = (await knex.raw('SELECT current_user AS r')).rows[0].r;
    if (role !== env('MEDUSA_STOREFRONT')) throw new Error(`Medusa runs as ${role}, not the storefront's role`);

    const V = ids.customers.veronica, ada = ids.users.ada;
    let sid, key;
    if (variant === 'session') {
        await knex.raw('SELECT loginas.set_assistance(?, true)', [V]);
        const backend = new pg.Client(conn(env('MEDUSA_BACKEND')));
        await backend.connect();
        const { token } = (await backend.query(`SELECT token FROM loginas.begin($1, $2, reason => 'end-to-end benchmark')`, [ada, V])).rows[0];
        await backend.end();
        const r = (await knex.raw('SELECT session_id, session_key FROM loginas.redeem(?)', [token])).rows[0];
        sid = String(r.session_id);
        key = r.session_key;
    }

    const cart = container.resolve(Modules.CART);
    const flows = require('@medusajs/core-flows');
    const variants = [ids.variants.red, ids.variants.blue];
    const item = i => ({ title: i % 2 ? 'Blue mug' : 'Red mug', quantity: 1, unit_price: i % 2 ? 1200 : 1000,
        variant_id: variants[i % 2], product_id: ids.product });
    const shipTo = { first_name: 'Vera', address_1: '2 Low Road', city: 'Leeds', country_code: 'gb' };

    // one request: Medusa's call, in the session's context when there is one
    const request = work => variant === 'session'
        ? hook.loginasContext.run(key, async () => {
            const result = await work();
            const c = hook.loginasContext.get();
            return { result, sessionId: c.sessionId, transactions: c.assumedTransactions, unassumed: c.unassumedWrites.length };
        })
        : work().then(result => ({ result }));
    let bad = null;
    const calls = {
        addToCartWorkflow: (i, cartId) => flows.addToCartWorkflow(container).run({
            input: { cart_id: cartId, items: [{ variant_id: variants[i % 2], quantity: 1 }] } }),
        addLineItems: (i, cartId) => cart.addLineItems(cartId, [item(i)]),
    };
    // lines per cart after its 4 calls: the workflow adds a variant already in the cart to its
    // line; the module's call always adds a line
    const linesPerCart = { addToCartWorkflow: 2, addLineItems: 4 };
    const one = measure => async (i, cartId) => {
        const s0 = count.stmts, t0 = count.txns, a0 = assumeNs;
        const out = await request(() => calls[measure](i, cartId));
        if (!bad && variant === 'session' && (out.sessionId !== sid || !(out.transactions > 0) || out.unassumed !== 0)) {
            bad = `${measure}: session ${out.sessionId} (want ${sid}), ${out.transactions} transactions assumed, ${out.unassumed} writes outside them`;
        }
        return { stmts: count.stmts - s0, txns: count.txns - t0, assumeNs: variant === 'session' ? assumeNs - a0 : undefined };
    };
    const newCart = async () => (await request(() => cart.createCarts({
        currency_code: 'eur', region_id: ids.region, sales_channel_id: ids.salesChannel, customer_id: V,
        email: 'veronica@example.com', shipping_address: shipTo, billing_address: { ...shipTo, first_name: 'Veronica' } }))).result.id;
    const logMax = async () => installed ? Number((await q1('SELECT coalesce(max(log_id), 0) AS m FROM loginas.action_log')).m) : 0;

    async function run(cmd) {
        if (!calls[cmd.measure]) throw new Error(`unknown measure ${cmd.measure}`);
        bad = null;
        const warm = wholeGroups(cmd.warmup, GROUP), n = wholeGroups(cmd.calls, GROUP);
        if (warm) await timedCalls({ calls: warm, group: GROUP, prepare: newCart, call: one(cmd.measure) });
        const log0 = await logMax();
        const r = await timedCalls({ calls: n, group: GROUP, prepare: newCart, call: one(cmd.measure) });
        const cartIds = r.targets, newLines = cartIds.length * linesPerCart[cmd.measure];
        const lines = await q1(`SELECT count(*)::int AS n, coalesce(sum(quantity), 0)::int AS qty, count(DISTINCT cart_id)::int AS carts
                                  FROM cart_line_item WHERE cart_id = ANY($1) AND deleted_at IS NULL`, [cartIds]);
        const problems = [];
        if (bad) problems.push(bad);
        if (lines.n !== newLines || lines.qty !== n || lines.carts !== cartIds.length) {
            problems.push(`cart lines: ${JSON.stringify(lines)}, want ${newLines} lines in ${cartIds.length} carts, quantity ${n}`);
        }
        let detail = `${lines.n} cart lines in ${cartIds.length} carts, quantity ${lines.qty}`;
        const stamped = async () => (await q1(`SELECT count(*) FILTER (WHERE s.created_session = $2)::int AS mine, count(s.key)::int AS any
                                                 FROM cart_line_item t
                                                 LEFT JOIN loginas.row_stamps s ON s.relation = 'public.cart_line_item'::regclass
                                                                               AND s.key = to_json(ARRAY[t.id])::text
                                                WHERE t.cart_id = ANY($1)`, [cartIds, sid || null]));
        if (variant === 'session') {
            const st = await stamped();
            const lg = await q1(`SELECT count(*) FILTER (WHERE action = 'write_insert' AND details->>'table' = 'public.cart_line_item')::int AS inserts,
                                        count(*)::int AS writes
                                   FROM loginas.action_log WHERE log_id > $1 AND session_id = $2 AND action LIKE 'write%'`, [log0, sid]);
            if (st.mine !== newLines) problems.push(`${st.mine} of the ${newLines} new lines stamped with session ${sid}`);
            if (lg.inserts < newLines) problems.push(`${lg.inserts} write_insert log rows of public.cart_line_item in session ${sid}, want >= ${newLines}`);
            detail += `; session ${sid}: ${st.mine} lines stamped, ${lg.writes} write log rows (${lg.inserts} inserts of cart_line_item)`;
        } else if (variant === 'installed') {
            const st = await stamped();
            const lg = await q1(`SELECT count(*)::int AS n FROM loginas.action_log WHERE log_id > $1 AND action LIKE 'write%'`, [log0]);
            const tracked = await q1('SELECT count(*)::int AS n FROM loginas.tracked_tables');
            if (lg.n !== 0 || st.any !== 0) problems.push(`outside a session: ${lg.n} write log rows, ${st.any} stamps`);
            if (tracked.n === 0) problems.push('no table tracked: the recipe was not applied');
            detail += `; ${tracked.n} tables tracked, no write log row, no stamp`;
        } else {
            detail += '; no loginas extension in the database';
        }
        return { times: r.times, stmts: r.stmts, txns: r.txns, assume: r.assume, sql: r.sql,
            check: { ok: problems.length === 0, detail: problems.length ? problems.join('; ') : detail } };
    }

    async function quit() {
        if (variant === 'session') await knex.raw('SELECT loginas.end(?)', [key]).catch(() => {});
        await su.end();
    }
    return { run, quit, ready: () => ({ variant, database: env('PGDATABASE'), session: sid || null }) };
}
