// test/platforms/medusa/drive.js — Medusa 2.x's own module code inside a (stand-in) Login as
// Customer session, run by medusa.sh as `medusa exec` after standin.sql.  loginas is not
// bound (it takes integer ids; Medusa's are text): what this proves is the half that does not
// depend on that — the MikroORM hook of docs/examples/node/mikroorm/ starts every transaction
// of each call with assume(), and every row the call writes is written by such a transaction.
//
// How: standin.sql's loginas.assume() records txid_current() of the transaction it runs in;
// a trigger on every table of schema public records the txid of every row written.  For each
// call: every write's txid must be one that ran assume(), as its first write; each surviving
// row's xmin must be one too; the hook's knex audit must have seen no write outside.  A call
// made outside loginasContext is the control: its writes must NOT be covered.
// Prints "ok - ..." / "not ok - ..." and "# ..." lines (medusa.sh numbers and counts them).
'use strict';
Object.defineProperty(exports, '__esModule', { value: true });
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const pg = require('pg');
const { Modules } = require('@medusajs/framework/utils');
const { MedusaModule } = require('@medusajs/framework/modules-sdk');
const hook = require(path.resolve(__dirname, '../../../docs/examples/node/mikroorm/loginas-mikroorm.js'));
const { loginasContext, LoginasSessionEnded } = hook;

function ok(cond, name, diag) {
    console.log(`${cond ? 'ok' : 'not ok'} - ${name}`);
    if (!cond && diag !== undefined) {
        const text = diag instanceof Error ? `${diag.code || ''} ${diag.stack || diag.message}` : typeof diag === 'string' ? diag : JSON.stringify(diag, null, 1);
        for (const line of text.split('\n').slice(0, 14)) console.log(`#   ${line}`);
    }
    return cond;
}

async function drive({ container }) {
    const ids = JSON.parse(fs.readFileSync(process.env.MEDUSA_IDS, 'utf8'));
    const su = new pg.Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), database: process.env.PGDATABASE, user: 'postgres' });
    await su.connect();
    const q = async (sql, params) => (await su.query(sql, params)).rows;
    try {
        const { managers, knex } = hook.attachToMedusa(MedusaModule);
        hook.auditKnex(knex);
        ok(managers > 20 && typeof knex.transaction === 'function',
            `the hook is registered on the entity managers of all ${managers} loaded Medusa modules (one shared knex pool)`);

        const customer = container.resolve(Modules.CUSTOMER);
        const cart = container.resolve(Modules.CART);
        const key = crypto.randomBytes(32).toString('hex');
        const V = ids.customers.veronica;
        const run = crypto.randomBytes(3).toString('hex');   // new values on every run: Medusa skips unchanged ones
        const vera = `Vera ${run}`;

        // One call in the session; returns what it wrote, and whether each write is covered.
        async function inSession(name, work, { session = true } = {}) {
            const [{ seq }] = await q('SELECT coalesce(max(seq), 0) AS seq FROM loginas.write_seen');
            const t0 = Date.now();
            let result, ctx, error;
            try {
                if (session) {
                    [result, ctx] = await loginasContext.run(key, async () => [await work(), loginasContext.get()]);
                } else {
                    result = await work();
                }
            } catch (e) { error = e; }
            const ms = Date.now() - t0;
            const writes = await q(
                `SELECT w.txid, w.tbl, w.op, w.row_id, a.txid IS NOT NULL AS covered, a.first_write
                   FROM loginas.write_seen w LEFT JOIN loginas.assumed a USING (txid)
                  WHERE w.seq > $1 ORDER BY w.seq`, [seq]);
            // the surviving rows: their xmin is the transaction that last wrote them
            const xmins = [];
            for (const w of writes.filter(w => w.op !== 'DELETE' && w.row_id)) {
                const r = await q(`SELECT x.xmin::text::bigint AS xmin, EXISTS (SELECT FROM loginas.assumed a WHERE a.txid = x.xmin::text::bigint) AS covered
                                     FROM public.${JSON.stringify(w.tbl)} x WHERE x.id = $1`, [w.row_id]);
                if (r.length) xmins.push({ tbl: w.tbl, id: w.row_id, ...r[0] });
            }
            const txs = new Set(writes.map(w => w.txid));
            const tables = [...new Set(writes.map(w => `${w.tbl}:${w.op.toLowerCase()}`))].join(', ');
            console.log(`# ${name}: ${writes.length} row writes in ${txs.size} transaction(s), ${ms} ms — ${tables || 'nothing'}`);
            return { result, error, writes, xmins, txs, ctx, ms };
        }
        function covered(name, r) {
            if (!ok(!r.error, `${name}: Medusa's call succeeds in the session`, r.error)) return;
            const uncovered = r.writes.filter(w => !w.covered);
            const late = r.writes.filter(w => w.covered && !w.first_write);
            ok(r.writes.length > 0 && uncovered.length === 0 && late.length === 0,
                `${name}: all ${r.writes.length} row writes ran in transactions that began with assume() (${r.txs.size} transaction(s))`,
                { uncovered, late });
            const badXmin = r.xmins.filter(x => !x.covered);
            ok(badXmin.length === 0, `${name}: the xmin of each of the ${r.xmins.length} rows written is a transaction that assumed`, badXmin);
            ok(r.ctx.unassumedWrites.length === 0, `${name}: the hook's knex audit saw no write outside an assumed transaction`, r.ctx.unassumedWrites);
        }

        // --- the calls ---------------------------------------------------------------
        let r = await inSession('customerModule.updateCustomers', () => customer.updateCustomers(V, { first_name: vera }));
        covered('customerModule.updateCustomers', r);

        r = await inSession('customerModule.createCustomerAddresses', () => customer.createCustomerAddresses({
            customer_id: V, first_name: 'Vera', last_name: 'Costello', address_1: '2 Low Road', city: 'Leeds', country_code: 'gb' }));
        covered('customerModule.createCustomerAddresses', r);
        const newAddress = r.result && r.result.id;

        r = await inSession('customerModule.updateCustomerAddresses', () => customer.updateCustomerAddresses(newAddress, { city: 'York' }));
        covered('customerModule.updateCustomerAddresses', r);

        r = await inSession('cartModule.createCarts', () => cart.createCarts({
            currency_code: 'eur', region_id: ids.region, sales_channel_id: ids.salesChannel, customer_id: V,
            email: 'veronica@example.com', shipping_address: { first_name: 'Vera', address_1: '2 Low Road', city: 'Leeds', country_code: 'gb' },
            items: [{ title: 'Red mug', quantity: 1, unit_price: 1000, variant_id: ids.variants.red, product_id: ids.product }] }));
        covered('cartModule.createCarts', r);
        const newCart = r.result && r.result.id;

        const item = { title: 'Blue mug', quantity: 2, unit_price: 1200, variant_id: ids.variants.blue, product_id: ids.product };
        r = await inSession('cartModule.addLineItems(cartId, items)', () => cart.addLineItems(newCart, [item]));
        covered('cartModule.addLineItems(cartId, items)', r);
        const added = r.result && r.result[0] && r.result[0].id;

        r = await inSession('cartModule.addLineItems({cart_id, ...})', () => cart.addLineItems({ cart_id: ids.carts.veronica, ...item }));
        covered('cartModule.addLineItems({cart_id, ...})', r);

        r = await inSession('cartModule.updateLineItems', () => cart.updateLineItems(added, { quantity: 5 }));
        covered('cartModule.updateLineItems', r);

        r = await inSession('cartModule.updateLineItems(selector, data)', () => cart.updateLineItems({ cart_id: newCart }, { quantity: 3 }));
        covered('cartModule.updateLineItems(selector, data)', r);

        r = await inSession('cartModule.deleteLineItems', () => cart.deleteLineItems([added]));
        covered('cartModule.deleteLineItems', r);
        ok(r.writes.some(w => w.op === 'DELETE' && w.tbl === 'cart_line_item' && w.row_id === added)
            || r.writes.some(w => w.op === 'UPDATE' && w.tbl === 'cart_line_item' && w.row_id === added),
            `cartModule.deleteLineItems: the line's ${r.writes.find(w => w.row_id === added)?.op || 'write'} is among the covered writes`, r.writes);

        r = await inSession('cartModule.updateCarts', () => cart.updateCarts(newCart, { email: 'vera@example.com' }));
        covered('cartModule.updateCarts', r);

        // --- Medusa's workflows: what the store API routes run (one module call per step) ---
        const flows = require('@medusajs/core-flows');
        r = await inSession('updateCustomersWorkflow (POST /store/customers/me)', () => flows.updateCustomersWorkflow(container).run({
            input: { selector: { id: V }, update: { last_name: `Costello ${run}` } } }));
        covered('updateCustomersWorkflow', r);
        r = await inSession('createCustomerAddressesWorkflow (POST /store/customers/me/addresses)', () => flows.createCustomerAddressesWorkflow(container).run({
            input: { addresses: [{ customer_id: V, first_name: 'Vera', address_1: '3 Side Street', city: 'Hull', country_code: 'gb' }] } }));
        covered('createCustomerAddressesWorkflow', r);
        r = await inSession('updateLineItemInCartWorkflow (POST /store/carts/:id/line-items/:line_id)', () => flows.updateLineItemInCartWorkflow(container).run({
            input: { cart_id: ids.carts.veronica, item_id: ids.cartLines.veronica[0], update: { quantity: 4 } } }));
        covered('updateLineItemInCartWorkflow', r);
        r = await inSession('addToCartWorkflow (POST /store/carts/:id/line-items)', () => flows.addToCartWorkflow(container).run({
            input: { cart_id: ids.carts.veronica, items: [{ variant_id: ids.variants.blue, quantity: 1 }] } }));
        covered('addToCartWorkflow', r);

        // --- the control: the same kind of call outside the session is not covered ---
        r = await inSession('control: customerModule.updateCustomers outside loginasContext',
            () => customer.updateCustomers(ids.customers.john, { first_name: `Johnny ${run}` }), { session: false });
        ok(!r.error && r.writes.length > 0 && r.writes.every(w => !w.covered),
            `control: outside loginasContext no transaction assumed, and the check sees it (${r.writes.length} uncovered writes)`, r.writes);

        // --- a refused assume: the call fails, writes nothing, leaves no connection checked out
        await q('INSERT INTO loginas.ended_keys VALUES (sha256(convert_to($1, \'UTF8\')))', [key]);
        const pool = knex.client.pool;
        r = await inSession('refused: customerModule.updateCustomers after the session ended',
            () => customer.updateCustomers(V, { first_name: 'Nope' }));
        const err = r.error;
        const inner = err && (err instanceof LoginasSessionEnded ? err : err.cause instanceof LoginasSessionEnded ? err.cause : null);
        ok(!!err && (inner || /session has ended/.test(err.message)) && r.writes.length === 0,
            `refused assume: the call fails with LoginasSessionEnded (${err && (err.code || (inner && inner.code))}), nothing written`, err || r.writes);
        await new Promise(res => setTimeout(res, 200));
        ok(pool.numUsed() === 0, `refused assume: no knex connection left checked out (used ${pool.numUsed()}, free ${pool.numFree()})`);
        const [{ first_name: stillVera }] = await q('SELECT first_name FROM public.customer WHERE id = $1', [V]);
        ok(stillVera === vera, `refused assume: Veronica's row unchanged (${stillVera})`);
        const idle = await q(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`);
        ok(idle[0].n === 0, `refused assume: no connection idle in (aborted) transaction (${idle[0].n})`);

        // --- the key never reaches the server log's statement text ---------------------
        const leaked = await q(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, [key]);
        ok(leaked[0].n === 0, 'the session key is sent as a bind parameter (not in any statement text)');
    } finally {
        await su.end();
    }
}
exports.default = drive;
