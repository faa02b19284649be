// test/platforms/vendure/bench.js — a bench worker of `make bench-platforms`
// (test/platforms/bench.sh): one Vendure, booted once, answering the coordinator's
// commands (test/platforms/bench-lib.js) with timed calls of Vendure's own
// OrderService.addItemToOrder, each run as Vendure's shop API runs it
// (connection.withTransaction(ctx, ...), what @Transaction() does) with Veronica's
// shop context.
//
//   node bench.js IDS VARIANT      PGDATABASE names the variant's database
//
// VARIANT:
//   plain      the database without loginas (the recipe not applied); Vendure without the
//              hook, as the storefront's role (the same grants as the recipe gives it)
//   installed  loginas installed and docs/platforms/vendure.sql applied; Vendure with the
//              TypeORM hook of docs/examples/node/typeorm/ (LoginasSubscriber and
//              LoginasAuditLogger, as drive.js runs it); no session
//   session    the same, every call in a Login as Customer session of ada as Veronica
//              (begun by the admin backend's role, redeemed on Vendure's connection): the
//              hook sends SELECT loginas.assume($1) first in each transaction
//
// A call adds one item to an order: a fresh order every 4 calls (the two variants of the
// seeded shop, each added twice: two new lines, then two quantity changes), so every run's
// orders look alike.  Each run checks what it did (the lines and their quantities; in a
// session every call assumed it, the new lines are stamped with it and their inserts are in
// the write log; without a session, nothing in the log or the stamps; without loginas, no
// extension).
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const pg = require('pg');
const { bootstrap, TransactionalConnection, OrderService, isGraphQlErrorResult } = require('@vendure/core');
const { env, vendureConfig, makeCtx } = require('./common');
const { serve, timedCalls, wholeGroups, timeQueries } = require('../bench-lib');
const hook = require(path.resolve(__dirname, '../../../docs/examples/node/typeorm/loginas-typeorm.js'));

const GROUP = 4;    // calls per order

async function main() {
    const ids = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    const variant = process.argv[3];
    if (!['plain', 'installed', 'session'].includes(variant)) throw new Error(`unknown variant ${variant}`);
    const conn = role => ({ host: env('PGHOST'), port: Number(env('PGPORT')), database: env('PGDATABASE'), user: role });

    // statements and transactions Vendure sends, counted by a TypeORM logger (every
    // variant has one: the audit logger's inner logger, or this one alone)
    const count = { stmts: 0, txns: 0 };
    const counting = {
        logQuery(query) { count.stmts++; if (/^\s*(START TRANSACTION|BEGIN)\b/i.test(query)) count.txns++; },
        logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {},
    };
    // in a session: the time the hook's afterTransactionStart takes (the assume round trip)
    let assumeNs = 0n;
    if (variant === 'session') {
        const proto = hook.LoginasSubscriber.prototype, orig = proto.afterTransactionStart;
        proto.afterTransactionStart = async function (event) {
            const t0 = process.hrtime.bigint();
            try {
                return await orig.call(this, event);
            } finally {
                assumeNs += process.hrtime.bigint() - t0;
            }
        };
    }
    const withHook = variant !== 'plain';
    const app = await bootstrap(vendureConfig({
        username: env('VENDURE_STOREFRONT'), synchronize: false,
        subscribers: withHook ? [hook.LoginasSubscriber] : [],
        logger: withHook ? new hook.LoginasAuditLogger(counting) : counting,
    }));
    const connection = app.get(TransactionalConnection);
    const orders = app.get(OrderService);
    if (timeQueries() === 0) throw new Error("no node-postgres Client loaded: Vendure's queries cannot be timed");
    const su = new pg.Client(conn('postgres'));        // the checks' eyes
    await su.connect();
    const q1 = async (sql, params) => (await su.query(sql, params)).rows[0];
    const V = ids.customers.veronica, ada = ids.admins.ada;
    const ctx = await makeCtx(app, { apiType: 'shop', userId: ids.users.veronica });

    const installed = Number((await q1(`SELECT count(*) AS n FROM pg_extension WHERE extname = 'loginas'`)).n) === 1;
    if (installed !== withHook) throw new Error(`variant ${variant}: loginas is ${installed ? '' : 'not '}installed in ${env('PGDATABASE')}`);
    let sid, key;
    if (variant === 'session') {
        // Veronica's consent (her own request), the admin backend's ticket, the storefront's redeem
        await connection.rawConnection.query('SELECT loginas.set_assistance($1, true)', [V]);
        const backend = new pg.Client(conn(env('VENDURE_BACKEND')));
        await backend.connect();
        const { token } = (await backend.query(`SELECT token FROM loginas.begin($1, $2, reason => 'end-to-end benchmark')`, [ada, V])).rows[0];
        await backend.end();
        const r = (await connection.rawConnection.query('SELECT session_id, session_key FROM loginas.redeem($1)', [token]))[0];
        sid = String(r.session_id);
        key = r.session_key;
    }

    // one request: one transaction (@Transaction()), in the session's context when there is one
    const request = work => variant === 'session'
        ? hook.loginasContext.run(key, async () => {
            const result = await connection.withTransaction(ctx, work);
            const c = hook.loginasContext.get();
            return { result, sessionId: c.sessionId, unassumed: c.unassumedWrites.length };
        })
        : connection.withTransaction(ctx, work).then(result => ({ result }));

    let bad = null;     // the first call that did not do its job
    const addItem = async (i, orderId) => {
        const s0 = count.stmts, t0 = count.txns, a0 = assumeNs;
        const out = await request(c => orders.addItemToOrder(c, orderId, ids.variants[i % ids.variants.length], 1));
        if (!bad && isGraphQlErrorResult(out.result)) bad = `addItemToOrder: ${out.result.errorCode} ${out.result.message}`;
        if (!bad && variant === 'session' && (out.sessionId !== sid || out.unassumed !== 0)) {
            bad = `addItemToOrder: its transaction assumed session ${out.sessionId} (want ${sid}), ${out.unassumed} writes outside it`;
        }
        return { stmts: count.stmts - s0, txns: count.txns - t0, assumeNs: variant === 'session' ? assumeNs - a0 : undefined };
    };
    const newOrder = async () => (await request(c => orders.create(c, ids.users.veronica))).result.id;

    const logMax = async () => installed ? Number((await q1('SELECT coalesce(max(log_id), 0) AS m FROM loginas.action_log')).m) : 0;

    async function run(cmd) {
        if (cmd.measure !== 'addItemToOrder') throw new Error(`unknown measure ${cmd.measure}`);
        bad = null;
        const warm = wholeGroups(cmd.warmup, GROUP), calls = wholeGroups(cmd.calls, GROUP);
        if (warm) await timedCalls({ calls: warm, group: GROUP, prepare: newOrder, call: addItem });
        const log0 = await logMax();
        const r = await timedCalls({ calls, group: GROUP, prepare: newOrder, call: addItem });
        // the check: every order has its two lines, each with quantity 2
        const orderIds = r.targets;
        const lines = await q1(`SELECT count(*)::int AS n, coalesce(sum(quantity), 0)::int AS qty,
                                       count(DISTINCT "orderId")::int AS orders
                                  FROM order_line WHERE "orderId" = ANY($1)`, [orderIds]);
        const newLines = orderIds.length * ids.variants.length;
        const problems = [];
        if (bad) problems.push(bad);
        if (lines.n !== newLines || lines.qty !== calls || lines.orders !== orderIds.length) {
            problems.push(`order lines: ${JSON.stringify(lines)}, want ${newLines} lines in ${orderIds.length} orders, quantity ${calls}`);
        }
        let detail = `${lines.n} order lines in ${orderIds.length} orders, quantity ${lines.qty}`;
        if (variant === 'session') {
            const st = await q1(`SELECT count(*)::int AS n FROM order_line ol
                                   JOIN loginas.row_stamps s ON s.relation = 'public.order_line'::regclass
                                                            AND s.key = to_json(ARRAY[ol.id::text])::text
                                  WHERE ol."orderId" = ANY($1) AND s.created_session = $2`, [orderIds, sid]);
            const lg = await q1(`SELECT count(*) FILTER (WHERE action = 'write_insert' AND details->>'table' = 'public.order_line')::int AS inserts,
                                        count(*)::int AS writes
                                   FROM loginas.action_log WHERE log_id > $1 AND session_id = $2 AND action LIKE 'write%'`, [log0, sid]);
            if (st.n !== newLines) problems.push(`${st.n} of the ${newLines} new lines stamped with session ${sid}`);
            if (lg.inserts < newLines) problems.push(`${lg.inserts} write_insert log rows of public.order_line in session ${sid}, want >= ${newLines}`);
            detail += `; session ${sid}: ${st.n} lines stamped, ${lg.writes} write log rows (${lg.inserts} inserts of order_line)`;
        } else if (variant === 'installed') {
            const lg = await q1(`SELECT count(*)::int AS n FROM loginas.action_log WHERE log_id > $1 AND action LIKE 'write%'`, [log0]);
            const st = await q1(`SELECT count(*)::int AS n FROM order_line ol
                                   JOIN loginas.row_stamps s ON s.relation = 'public.order_line'::regclass
                                                            AND s.key = to_json(ARRAY[ol.id::text])::text
                                  WHERE ol."orderId" = ANY($1)`, [orderIds]);
            const tracked = await q1(`SELECT count(*)::int AS n FROM loginas.tracked_tables`);
            if (lg.n !== 0 || st.n !== 0) problems.push(`outside a session: ${lg.n} write log rows, ${st.n} stamps`);
            if (tracked.n === 0) problems.push('no table tracked: the recipe was not applied');
            detail += `; ${tracked.n} tables tracked, no write log row, no stamp`;
        } else {
            detail += '; no loginas extension in the database';
        }
        return { times: r.times, stmts: r.stmts, txns: r.txns, assume: r.assume, sql: r.sql,
            check: { ok: problems.length === 0, detail: problems.length ? problems.join('; ') : detail } };
    }

    async function quit() {
        if (variant === 'session') await connection.rawConnection.query('SELECT loginas.end($1)', [key]).catch(() => {});
        await su.end();
        await app.close();
    }

    return { run, quit, ready: () => ({ variant, database: env('PGDATABASE'), session: sid || null }) };
}

let handlers;
serve({
    ready: async () => { handlers = await main(); return handlers.ready(); },
    run: cmd => handlers.run(cmd),
    quit: () => handlers.quit(),
}).then(rc => process.exit(rc), err => { console.error(err); process.exit(1); });
