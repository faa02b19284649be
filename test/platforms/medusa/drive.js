// test/platforms/medusa/drive.js — Medusa 2.x's own code inside a Login as Customer session of
// the real loginas, bound to Medusa's tables by docs/platforms/medusa.sql (text ids: cus_01…,
// user_01…, sc_01…).  Run by medusa.sh as `medusa exec` with Medusa connected as the
// storefront's role (medusa_storefront: loginas_storefront, not loginas_admin), the MikroORM
// hook of docs/examples/node/mikroorm/ on every module's entity manager; the admin backend's
// calls (check, begin, begin_from) go through a pool of the backend's role (Medusa's admin has
// no Login as Customer screen: they are what such a screen would send).  Each Medusa call runs
// as a store API route runs it, in the request's AsyncLocalStorage (loginasContext.run); every
// module call is a transaction of its own, and the hook assumes the session in each.
//
// For each call it asserts: Medusa's call commits (or, on another customer's rows, is refused
// 42501 and leaves them unchanged), every transaction assumed the session, its rows are stamped
// in loginas.row_stamps and logged (write_insert/update/delete with Medusa's ids as keys, the
// admin's admin_key, the customer's customer_key).  Then the reports, the durable refusal log,
// logout.  Prints "ok - ..." / "not ok - ..." and "# ..." lines (medusa.sh numbers and counts them).
'use strict';
Object.defineProperty(exports, '__esModule', { value: true });
const fs = require('node:fs');
const path = require('node:path');
const pg = require('pg');
const { Modules } = require('@medusajs/framework/utils');
const { MedusaModule } = require('@medusajs/framework/modules-sdk');
const hook = require(path.resolve(__dirname, '../../../docs/examples/node/mikroorm/loginas-mikroorm.js'));
const { loginasContext, LoginasSessionEnded } = hook;

let failures = 0;
function ok(cond, name, diag) {
    console.log(`${cond ? 'ok' : 'not ok'} - ${name}`);
    if (!cond) {
        failures++;
        if (diag !== undefined) {
            const text = diag instanceof Error ? `${sqlstate(diag) || ''} ${diag.stack || diag.message}` : typeof diag === 'string' ? diag : JSON.stringify(diag, null, 1);
            for (const line of text.split('\n').slice(0, 14)) console.log(`#   ${line}`);
        }
    }
    return cond;
}
// the SQLSTATE of an error, wherever Medusa, MikroORM or the hook put the driver's error
function sqlstate(e) {
    for (let x = e, i = 0; x && i < 6; x = x.cause || x.originalError || x.driverError || x.previous, i++) {
        if (typeof x.code === 'string' && /^[0-9A-Z]{5}$/.test(x.code)) return x.code;
        if (typeof x.sqlState === 'string') return x.sqlState;
    }
    return undefined;
}
// the message of the innermost error that has a SQLSTATE (the server's, not MikroORM's "<SQL> - <message>")
function message(e) {
    let m = e && e.message;
    for (let x = e, i = 0; x && i < 6; x = x.cause || x.originalError || x.driverError || x.previous, i++) if (sqlstate(x) && x.message) m = x.message;
    return typeof m === 'string' ? m.replace(/^[\s\S]* - (?=(Login as Customer|column|credentials|permission)\b)/, '') : m;
}
const env = name => { const v = process.env[name]; if (!v) throw new Error(`${name} is not set`); return v; };

async function drive({ container }) {
    const ids = JSON.parse(fs.readFileSync(env('MEDUSA_IDS'), 'utf8'));
    const conn = user => ({ host: env('PGHOST'), port: Number(env('PGPORT')), database: env('PGDATABASE'), user });
    const su = new pg.Client(conn('postgres'));                              // the test's eyes
    const backend = new pg.Pool({ ...conn(env('MEDUSA_BACKEND')), max: 2 }); // the admin backend (loginas_admin)
    const reports = new pg.Client(conn(env('MEDUSA_REPORTS')));              // loginas_reporting
    await su.connect();
    await reports.connect();
    const q = async (sql, params) => (await su.query(sql, params)).rows;
    const q1 = async (sql, params) => (await q(sql, params))[0];
    try {
        await main();
    } catch (e) {
        ok(false, `drive.js stopped: ${String(e && e.message).split('\n')[0]}`, e);
    } finally {
        await backend.end().catch(() => {});
        await reports.end().catch(() => {});
        await su.end().catch(() => {});
    }
    if (failures) process.exitCode = 1;

    async function main() {
        const { managers, knex } = hook.attachToMedusa(MedusaModule);
        hook.auditKnex(knex);
        ok(managers > 20 && typeof knex.transaction === 'function',
            `the hook is registered on the entity managers of all ${managers} loaded Medusa modules (one shared knex pool)`);
        const role = (await knex.raw(`SELECT current_user AS r, pg_has_role('loginas_admin', 'MEMBER') AS admin,
                                             pg_has_role('loginas_storefront', 'MEMBER') AS storefront`)).rows[0];
        ok(role.r === env('MEDUSA_STOREFRONT') && !role.admin && role.storefront,
            `Medusa runs as the storefront's role (${role.r}: loginas_storefront, not loginas_admin)`, role);
        const pool = knex.client.pool;
        const sf = async (sql, params) => (await knex.raw(sql, params)).rows;   // Medusa's own connection, outside sessions

        const V = ids.customers.veronica, J = ids.customers.john, ada = ids.users.ada, wes = ids.users.wes;
        // the session the calls run in (set below) and its store view
        let sid, key, sessionStore;
        const refusals = { n: 0 };
        // --- helpers for the calls in the session --------------------------------------
        const stamps = async (table, id) => (await q1(
            `SELECT s.created_session::text AS created, s.changed_session::text AS changed, s.changed_at
               FROM (SELECT) x LEFT JOIN loginas.row_stamps s ON s.relation = $1::regclass AND s.key = to_json(ARRAY[$2::text])::text`, [table, id]));
        // write log rows of the session: Medusa's text ids as keys, the admin's and the customer's keys
        const logged = async (action, table, id) => Number((await q1(
            `SELECT count(*) AS n FROM loginas.action_log
              WHERE action = $1 AND result = 'success' AND session_id = $2 AND admin_key = $3 AND admin_id IS NULL
                AND customer_key = $4 AND customer_id IS NULL AND store_key = $5 AND details->>'table' = $6
                AND ($7::text IS NULL OR details->'keys' @> jsonb_build_array(jsonb_build_array($7::text)))`,
            [action, sid, ada, V, sessionStore, table, id === undefined ? null : id])).n);
        const allUnassumed = [];
        const inSession = async work => {
            try {
                return await loginasContext.run(key, async () => {
                    const result = await work();
                    const ctx = loginasContext.get();
                    return { result, ctx: { sessionId: ctx.sessionId, transactions: ctx.assumedTransactions, unassumed: ctx.unassumedWrites.slice() } };
                });
            } catch (error) {
                return { error };
            }
        };
        const good = async (name, work) => {
            const t0 = Date.now();
            const out = await inSession(work);
            if (!ok(!out.error, `${name}: Medusa's call commits in the session`, out.error)) return undefined;
            allUnassumed.push(...out.ctx.unassumed);
            ok(out.ctx.sessionId === sid && out.ctx.transactions > 0 && out.ctx.unassumed.length === 0,
                `${name}: its ${out.ctx.transactions} transaction(s) assumed session ${out.ctx.sessionId}, no write outside them (${Date.now() - t0} ms)`, out.ctx);
            return out.result;
        };
        const refused = async (name, work, unchanged, want = /may not write row|belongs to/) => {
            refusals.n++;
            const out = await inSession(work);
            ok(out.error && sqlstate(out.error) === '42501' && want.test(message(out.error)),
                `${name}: refused (${sqlstate(out.error)}: ${out.error ? message(out.error).split('\n')[0] : 'it committed'})`, out.error || out.result);
            if (unchanged) await unchanged();
        };
        const sameRow = async (what, sql, params, before) => {
            const after = await q1(sql, params);
            ok(JSON.stringify(after) === JSON.stringify(before), `${what} unchanged (its stamps too)`, { before, after });
        };
        const rowAndStamp = (table, cols) => `SELECT ${cols}, s.created_session, s.changed_session FROM ${table} t
            LEFT JOIN loginas.row_stamps s ON s.relation = '${table}'::regclass AND s.key = to_json(ARRAY[t.id])::text WHERE t.id = $1`;

        const customer = container.resolve(Modules.CUSTOMER);
        const cart = container.resolve(Modules.CART);
        const auth = container.resolve(Modules.AUTH);
        const flows = require('@medusajs/core-flows');
        const run = Date.now().toString(36);      // new values on every run: Medusa skips unchanged ones

        if (process.env.MEDUSA_DRIVE_MODE === 'after-migrate') {
            // --- after medusa.sh ran `medusa db:migrate` again as the schema owner: a new session
            //     (begin with the keys as text, no store view given) writes, is stamped and
            //     logged, and is contained, as before
            const { default_sales_channel_id: defaultChannel } = await q1('SELECT default_sales_channel_id FROM store');
            const { token } = (await backend.query('SELECT token FROM loginas.begin($1, $2, reason => $3)', [ada, V, 'support call 4712, after a migration'])).rows[0];
            const [r] = await sf('SELECT session_id, session_key, store_key FROM loginas.redeem(?)', [token]);
            sid = String(r.session_id); key = r.session_key; sessionStore = r.store_key;
            ok(sessionStore === defaultChannel, `after db:migrate: a new session ${sid} of ada as Veronica, begin('${ada}', '${V}') in the default sales channel ${sessionStore}`, r);
            await good(`after db:migrate: customerModule.updateCustomers('${V}')`, () => customer.updateCustomers(V, { last_name: `Costello ${run}` }));
            ok((await stamps('public.customer', V)).changed === sid && await logged('write_update', 'public.customer', V) === 1,
                `after db:migrate: the customer row's last-change stamp is the new session ${sid}, write_update logged`);
            const address = await good('after db:migrate: customerModule.createCustomerAddresses(Veronica)', () => customer.createCustomerAddresses({
                customer_id: V, first_name: 'Vera', last_name: 'Costello', address_1: '4 Station Road', city: 'Leeds', country_code: 'gb' }));
            ok(address && (await stamps('public.customer_address', address.id)).created === sid && await logged('write_insert', 'public.customer_address', address.id) === 1,
                'after db:migrate: the new address created in the session, write_insert logged with its key');
            const johnLine = rowAndStamp('public.cart_line_item', 't.quantity');
            const before = await q1(johnLine, [ids.cartLines.john[0]]);
            await refused(`after db:migrate: cartModule.updateLineItems('${ids.cartLines.john[0]}') (John's line) in Veronica's session`,
                () => cart.updateLineItems(ids.cartLines.john[0], { quantity: 8 }), () => sameRow("John's line", johnLine, [ids.cartLines.john[0]], before));
            await sf('SELECT loginas.end(?)', [key]);
            return;
        }

        // --- consent, permissions, guests, refused begins --------------------------------
        // Veronica allows remote shopping assistance in a request of her own (Medusa has no such
        // setting: a storefront route of the shop's would call this)
        const [given] = await sf('SELECT loginas.set_assistance(?, true) AS allowed', [V]);
        ok(given.allowed === true, `Veronica (${V}) allows remote shopping assistance: set_assistance('${V}', true) on Medusa's connection`, given);
        const chk = async (a, c) => (await backend.query('SELECT allowed, reason FROM loginas.check($1, $2)', [a, c])).rows[0];
        let r = await chk(ada, V);
        ok(r.allowed === true, `check('${ada}', '${V}'): ada (role admin) may log in as Veronica`, r);
        r = await chk(wes, V);
        ok(r.allowed === false && /not allowed to login as a customer/.test(r.reason), "check: wes (metadata loginas_role 'warehouse') may not", r);
        r = await chk(ada, J);
        ok(r.allowed === false && r.reason === 'Login as Customer assistance is disabled for this Customer.', 'check: John has not allowed remote shopping assistance', r);
        const [{ s0 }] = await q('SELECT coalesce(max(session_id), 0) AS s0 FROM loginas.session');
        const refusedCall = async (name, sql, params, state, text) => {
            try {
                await backend.query(sql, params);
                ok(false, `${name}: refused (${state})`, 'it succeeded');
            } catch (e) {
                ok(e.code === state && (text instanceof RegExp ? text.test(e.message) : e.message === text),
                    `${name}: refused (${e.code}: ${e.message})`, e);
            }
        };
        await refusedCall('begin(ada, John) without his consent', `SELECT token FROM loginas.begin($1, $2, reason => 'call 1')`, [ada, J],
            '42501', 'Login as Customer assistance is disabled for this Customer.');
        await refusedCall('begin(wes, Veronica)', `SELECT token FROM loginas.begin($1, $2, reason => 'call 2')`, [wes, V],
            '42501', 'admin user "wes@shop.test" is not allowed to login as a customer');
        await refusedCall('begin(ada, the guest) (has_account false)', `SELECT token FROM loginas.begin($1, $2, reason => 'call 3')`, [ada, ids.customers.guest],
            '55000', /guest/);
        await refusedCall("begin_from(ada, 'order', the guest's order)", `SELECT token FROM loginas.begin_from($1, 'order', $2, reason => 'call 4')`,
            [ada, ids.orders.guest], '55000', /guest/);
        await refusedCall("begin_from(ada, 'invoice', …): Medusa has no invoices, the recipe binds none", `SELECT token FROM loginas.begin_from($1, 'invoice', 'inv_01', reason => 'call 5')`,
            [ada], '55000', 'no relation is bound as "invoices"');
        await refusedCall('begin(ada, Veronica) without a reason (require_reason on)', 'SELECT token FROM loginas.begin($1, $2)', [ada, V],
            '22023', /reason/);
        const [{ made }] = await q('SELECT count(*)::int AS made FROM loginas.session WHERE session_id > $1', [s0]);
        ok(made === 0, 'the refused begins left no ticket', made);

        // the admin backend consents on John's behalf (manage_assistance), then takes it back
        const asAdmin = async allowed => (await backend.query('SELECT loginas.set_assistance_as_admin($1, $2, NULL, $3) AS allowed', [J, allowed, ada])).rows[0].allowed;
        const granted = await asAdmin(true);
        const allowedThen = (await chk(ada, J)).allowed;
        const revoked = await asAdmin(false);
        const logRows = await q1(`SELECT count(*) FILTER (WHERE action = 'consent_granted')::int AS granted, count(*) FILTER (WHERE action = 'consent_revoked')::int AS revoked
                                    FROM loginas.action_log WHERE customer_key = $1 AND admin_key = $2 AND details->>'by' = 'admin'`, [J, ada]);
        ok(granted === true && allowedThen === true && revoked === false && (await chk(ada, J)).allowed === false
            && logRows.granted === 1 && logRows.revoked === 1,
            `set_assistance_as_admin('${J}', true/false, NULL, '${ada}'): ada consents for John and takes it back; check follows; consent_granted and consent_revoked logged with both keys`,
            { granted, allowedThen, revoked, logRows });

        // the shipment and credit memo bindings: fulfillments and refunds of Veronica's order.
        // No store_id given: the customer has no store view of her own (a Medusa customer is in
        // no sales channel), so begin picks the website's default store view, the store's default
        // sales channel.
        const { default_sales_channel_id: defaultChannel } = await q1('SELECT default_sales_channel_id FROM store');
        for (const [kind, id] of [['shipment', ids.shipments.veronica], ['credit_memo', ids.creditMemos.veronica]]) {
            const { store_key } = (await backend.query(`SELECT store_key FROM loginas.begin_from($1, $2, $3, reason => 'call 6')`, [ada, kind, id])).rows[0];
            const t = { store_key, ...await q1('SELECT customer_key, source FROM loginas.session WHERE ended_at IS NULL AND admin_key = $1', [ada]) };
            ok(t && t.customer_key === V && t.store_key === defaultChannel && t.source.includes(id),
                `begin_from(ada, '${kind}', '${id}'): a ticket for Veronica in the default sales channel ${t.store_key} (source: ${t && t.source})`, t);
        }
        await backend.query('SELECT loginas.end_admin($1)', [ada]);

        // --- the admin backend begins from Veronica's order, in the order's sales channel (the
        //     order page passes it: begin_from takes the customer's default otherwise); the
        //     storefront redeems --------------------------------------------------------------
        const ticket = (await backend.query(
            `SELECT token, store_key FROM loginas.begin_from($1, 'order', $2, store_id => $3, reason => $4, client_addr => '192.0.2.10')`,
            [ada, ids.orders.veronica, ids.salesChannel, 'support call 4711'])).rows[0];
        ok(ticket.store_key === ids.salesChannel, `begin_from(ada, 'order', '${ids.orders.veronica}', store_id => the order's sales channel): ticket in ${ticket.store_key}`, ticket);
        const [redeemed] = await sf('SELECT session_id, session_key, customer_id, customer_key, store_key, banner FROM loginas.redeem(?)', [ticket.token]);
        sid = String(redeemed.session_id); key = redeemed.session_key; sessionStore = redeemed.store_key;
        ok(redeemed.customer_key === V && redeemed.customer_id === null && redeemed.store_key === ids.salesChannel
            && redeemed.banner === 'You are connected as Veronica Costello on Medusa Store',
            `redeem on Medusa's connection: session ${sid}, customer_key ${redeemed.customer_key} (${redeemed.banner})`, redeemed);
        const ses = await q1('SELECT admin_id, admin_key, customer_id, customer_key, store_id, store_key, document_key, source FROM loginas.session WHERE session_id = $1', [sid]);
        ok(ses.admin_id === null && ses.admin_key === ada && ses.customer_id === null && ses.customer_key === V && ses.store_id === null
            && ses.store_key === ids.salesChannel && ses.document_key === ids.orders.veronica && ses.source === 'order #1',
            `the session keeps Medusa's ids: admin_key ${ses.admin_key}, customer_key ${ses.customer_key}, store_key ${ses.store_key}, document_key ${ses.document_key} (${ses.source})`, ses);

        // --- customerModule.updateCustomers ----------------------------------------------
        await good(`customerModule.updateCustomers('${V}')`, () => customer.updateCustomers(V, { first_name: 'Veronica', last_name: `Costello ${run}` }));
        let s = await stamps('public.customer', V);
        ok(s.changed === sid, 'updateCustomers: the customer row is stamped with the session (loginas.row_stamps)', s);
        ok(await logged('write_update', 'public.customer', V) === 1,
            `updateCustomers: write_update of public.customer logged with key ${V}, admin_key ${ada}, customer_key ${V}`);
        const johnRow = rowAndStamp('public.customer', 't.first_name, t.last_name, t.email');
        let before = await q1(johnRow, [J]);
        await refused(`customerModule.updateCustomers('${J}') (John) in Veronica's session`,
            () => customer.updateCustomers(J, { first_name: `Not John ${run}` }),
            () => sameRow("John's customer row", johnRow, [J], before));

        // --- customerModule.createCustomerAddresses ----------------------------------------
        const address = await good(`customerModule.createCustomerAddresses(Veronica)`, () => customer.createCustomerAddresses({
            customer_id: V, first_name: 'Vera', last_name: 'Costello', address_1: '2 Low Road', city: 'Leeds', country_code: 'gb' }));
        if (address) {
            s = await stamps('public.customer_address', address.id);
            ok(s.created === sid && s.changed === sid, `createCustomerAddresses: the new address ${address.id} was created in the session`, s);
            ok(await logged('write_insert', 'public.customer_address', address.id) === 1, 'createCustomerAddresses: write_insert of public.customer_address logged with its key');
        }
        const johnAddresses = async () => (await q1('SELECT count(*)::int AS n, max(updated_at) AS u FROM customer_address WHERE customer_id = $1', [J]));
        before = await johnAddresses();
        await refused("customerModule.createCustomerAddresses(John) in Veronica's session", () => customer.createCustomerAddresses({
            customer_id: J, first_name: 'Not', last_name: 'John', address_1: '666 Fraud Lane', city: 'Leeds', country_code: 'gb' }),
            async () => ok(JSON.stringify(await johnAddresses()) === JSON.stringify(before), 'John has no new address', await johnAddresses()),
            /belongs to|may not write row/);
        if (address) {
            await good('customerModule.updateCustomerAddresses(the new address)', () => customer.updateCustomerAddresses(address.id, { city: 'York' }));
            ok(await logged('write_update', 'public.customer_address', address.id) === 1, 'updateCustomerAddresses: write_update logged with its key');
        }
        const johnAddress = rowAndStamp('public.customer_address', 't.city, t.address_1');
        before = await q1(johnAddress, [ids.addresses.john]);
        await refused(`customerModule.updateCustomerAddresses('${ids.addresses.john}') (John's) in Veronica's session`,
            () => customer.updateCustomerAddresses(ids.addresses.john, { city: 'Fraudham' }),
            () => sameRow("John's address", johnAddress, [ids.addresses.john], before));

        // --- cartModule.createCarts ------------------------------------------------------------
        const redItem = { title: 'Red mug', quantity: 1, unit_price: 1000, variant_id: ids.variants.red, product_id: ids.product };
        const blueItem = { title: 'Blue mug', quantity: 2, unit_price: 1200, variant_id: ids.variants.blue, product_id: ids.product };
        const shipTo = { first_name: 'Vera', address_1: '2 Low Road', city: 'Leeds', country_code: 'gb' };
        const newCart = await good('cartModule.createCarts(Veronica, with addresses and an item)', () => cart.createCarts({
            currency_code: 'eur', region_id: ids.region, sales_channel_id: ids.salesChannel, customer_id: V, email: 'veronica@example.com',
            shipping_address: shipTo, billing_address: { ...shipTo, first_name: 'Veronica' }, items: [redItem] }));
        if (newCart) {
            const rows = await q1(`SELECT c.shipping_address_id AS ship, c.billing_address_id AS bill, (SELECT array_agg(id) FROM cart_line_item WHERE cart_id = c.id) AS lines
                                     FROM cart c WHERE c.id = $1`, [newCart.id]);
            const made = [['public.cart', newCart.id], ['public.cart_address', rows.ship], ['public.cart_address', rows.bill], ['public.cart_line_item', rows.lines[0]]];
            const st = await Promise.all(made.map(([t, id]) => stamps(t, id)));
            ok(st.every(x => x.created === sid), `createCarts: the cart ${newCart.id}, its two cart addresses and its line item were created in the session`, st);
            const n = await Promise.all(made.map(([t, id]) => logged('write_insert', t, id)));
            ok(n.every(x => x === 1), 'createCarts: write_insert of public.cart, public.cart_address (both) and public.cart_line_item logged with their keys', n);
        }
        const johnCarts = async () => (await q1('SELECT count(*)::int AS n FROM cart WHERE customer_id = $1', [J]));
        before = await johnCarts();
        await refused("cartModule.createCarts(John) in Veronica's session", () => cart.createCarts({
            currency_code: 'eur', region_id: ids.region, sales_channel_id: ids.salesChannel, customer_id: J, email: 'john@example.com',
            shipping_address: shipTo, items: [redItem] }),
            async () => ok((await johnCarts()).n === before.n, 'John has no new cart', await johnCarts()),
            /belongs to|may not write row/);

        // --- cartModule.addLineItems -------------------------------------------------------------
        let added;
        if (newCart) {
            const items = await good(`cartModule.addLineItems('${newCart.id}', items)`, () => cart.addLineItems(newCart.id, [blueItem]));
            added = items && items[0] && items[0].id;
            if (added) {
                s = await stamps('public.cart_line_item', added);
                ok(s.created === sid, `addLineItems: the new line ${added} was created in the session`, s);
                ok(await logged('write_insert', 'public.cart_line_item', added) === 1, 'addLineItems: write_insert of public.cart_line_item logged with its key');
            }
        }
        const items = await good('cartModule.addLineItems({ cart_id: Veronica\'s seeded cart, ... })', () => cart.addLineItems({ cart_id: ids.carts.veronica, ...redItem }));
        if (items && items[0]) ok(await logged('write_insert', 'public.cart_line_item', items[0].id) === 1, 'addLineItems({cart_id}): write_insert logged with its key');
        const johnLines = async () => (await q(`SELECT t.id, t.quantity, s.changed_session FROM cart_line_item t
            LEFT JOIN loginas.row_stamps s ON s.relation = 'public.cart_line_item'::regclass AND s.key = to_json(ARRAY[t.id])::text
            WHERE t.cart_id = $1 ORDER BY t.id`, [ids.carts.john]));
        const linesBefore = await johnLines();
        const sameLines = async what => ok(JSON.stringify(await johnLines()) === JSON.stringify(linesBefore), `${what}: John's cart lines unchanged (same lines, quantities, no stamp)`, await johnLines());
        await refused(`cartModule.addLineItems('${ids.carts.john}') (John's cart) in Veronica's session`,
            () => cart.addLineItems(ids.carts.john, [blueItem]), () => sameLines('addLineItems'), /belongs to|may not write row/);

        // --- cartModule.updateLineItems ------------------------------------------------------------
        if (added) {
            await good(`cartModule.updateLineItems('${added}', { quantity: 5 })`, () => cart.updateLineItems(added, { quantity: 5 }));
            const row = await q1(rowAndStamp('public.cart_line_item', 't.quantity'), [added]);
            ok(row.quantity === 5 && String(row.changed_session) === sid, 'updateLineItems: quantity 5, stamped with the session', row);
            ok(await logged('write_update', 'public.cart_line_item', added) >= 1, 'updateLineItems: write_update of public.cart_line_item logged with its key');
        }
        if (newCart) await good('cartModule.updateLineItems({ cart_id }, { quantity: 3 }) (a selector)', () => cart.updateLineItems({ cart_id: newCart.id }, { quantity: 3 }));
        await refused(`cartModule.updateLineItems('${ids.cartLines.john[0]}') (John's line) in Veronica's session`,
            () => cart.updateLineItems(ids.cartLines.john[0], { quantity: 9 }), () => sameLines('updateLineItems'));

        // --- cartModule.deleteLineItems (a hard DELETE) -----------------------------------------------
        if (added) {
            await good(`cartModule.deleteLineItems(['${added}'])`, () => cart.deleteLineItems([added]));
            ok(!(await q1('SELECT 1 AS x FROM cart_line_item WHERE id = $1', [added])), 'deleteLineItems: the line is gone');
            ok(await logged('write_delete', 'public.cart_line_item', added) === 1, 'deleteLineItems: write_delete of public.cart_line_item logged with its key');
            s = await stamps('public.cart_line_item', added);
            ok(s.created === null && s.changed === null, "deleteLineItems: the deleted line's stamps went with it", s);
        }
        await refused(`cartModule.deleteLineItems(['${ids.cartLines.john[1]}']) (John's line) in Veronica's session`,
            () => cart.deleteLineItems([ids.cartLines.john[1]]), () => sameLines('deleteLineItems'));

        // --- cartModule.updateCarts ----------------------------------------------------------------------
        if (newCart) {
            await good('cartModule.updateCarts(the new cart)', () => cart.updateCarts(newCart.id, { email: `vera.${run}@example.com` }));
            ok(await logged('write_update', 'public.cart', newCart.id) >= 1, 'updateCarts: write_update of public.cart logged with its key');
        }
        const johnCart = rowAndStamp('public.cart', 't.email, t.customer_id');
        before = await q1(johnCart, [ids.carts.john]);
        await refused(`cartModule.updateCarts('${ids.carts.john}') (John's cart) in Veronica's session`,
            () => cart.updateCarts(ids.carts.john, { email: 'stolen@example.com' }), () => sameRow("John's cart", johnCart, [ids.carts.john], before));

        // --- line items' tax lines and adjustments: what the cart workflows' tax and promotion
        //     steps write (setLineItemTaxLines / setLineItemAdjustments replace a cart's set) -------
        if (newCart) {
            const [{ id: line }] = await q('SELECT id FROM cart_line_item WHERE cart_id = $1 ORDER BY id LIMIT 1', [newCart.id]);
            const taxLines = await good(`cartModule.setLineItemTaxLines('${newCart.id}', [VAT 20% on ${line}])`,
                () => cart.setLineItemTaxLines(newCart.id, [{ item_id: line, rate: 20, code: 'VAT20', description: 'VAT' }]));
            const tax = taxLines && taxLines[0] && taxLines[0].id;
            ok(tax && (await stamps('public.cart_line_item_tax_line', tax)).created === sid
                && await logged('write_insert', 'public.cart_line_item_tax_line', tax) === 1,
                `setLineItemTaxLines: the tax line ${tax} was created in the session and logged with its key`);
            await good('cartModule.setLineItemTaxLines (again: VAT 5% replaces it)',
                () => cart.setLineItemTaxLines(newCart.id, [{ item_id: line, rate: 5, code: 'VAT5', description: 'VAT' }]));
            ok(tax && (await stamps('public.cart_line_item_tax_line', tax)).changed === sid
                && await logged('write_update', 'public.cart_line_item_tax_line', tax) === 1,
                'setLineItemTaxLines: the replaced tax line soft-deleted (deleted_at) in the session, write_update logged');
            const adjustments = await good(`cartModule.setLineItemAdjustments('${newCart.id}', [1.00 off ${line}])`,
                () => cart.setLineItemAdjustments(newCart.id, [{ item_id: line, amount: 100, code: 'SUPPORT', description: 'goodwill' }]));
            const adj = adjustments && adjustments[0] && adjustments[0].id;
            ok(adj && (await stamps('public.cart_line_item_adjustment', adj)).created === sid
                && await logged('write_insert', 'public.cart_line_item_adjustment', adj) === 1,
                `setLineItemAdjustments: the adjustment ${adj} was created in the session and logged with its key`);
            // Medusa's setLineItemTaxLines does not check that the line is in the cart it names:
            // a tax line for John's line, given with Veronica's cart
            await refused(`cartModule.setLineItemTaxLines(Veronica's cart, [a tax line on John's line ${ids.cartLines.john[0]}])`,
                () => cart.setLineItemTaxLines(newCart.id, [{ item_id: ids.cartLines.john[0], rate: 0, code: 'ZERO', description: 'none' }]),
                async () => ok((await q1('SELECT count(*)::int AS n FROM cart_line_item_tax_line WHERE item_id = $1', [ids.cartLines.john[0]])).n === 0,
                    "John's line has no tax line"), /belongs to|may not write row/);
        }
        await refused(`cartModule.setLineItemAdjustments('${ids.carts.john}', …) (John's cart and line) in Veronica's session`,
            () => cart.setLineItemAdjustments(ids.carts.john, [{ item_id: ids.cartLines.john[0], amount: 1000, code: 'FRAUD' }]),
            async () => ok((await q1('SELECT count(*)::int AS n FROM cart_line_item_adjustment WHERE item_id = ANY($1)', [ids.cartLines.john])).n === 0,
                "John's lines have no adjustment"), /belongs to|may not write row/);

        // --- orderModule.createOrders: what order placement (completeCartWorkflow's createOrdersStep)
        //     writes — the order, its addresses, items and line items, reached as the recipe tracks them
        const orders = container.resolve(Modules.ORDER);
        const orderInput = c => ({ currency_code: 'eur', region_id: ids.region, sales_channel_id: ids.salesChannel, customer_id: c,
            email: 'veronica@example.com', shipping_address: shipTo, billing_address: shipTo,
            items: [{ title: 'Red mug', quantity: 2, unit_price: 1000, variant_id: ids.variants.red, product_id: ids.product }] });
        const [placed] = (await good('orderModule.createOrders(Veronica)', () => orders.createOrders([orderInput(V)]))) || [];
        if (placed) {
            const o = await q1(`SELECT o.shipping_address_id AS ship, o.billing_address_id AS bill, oi.id AS item, oi.item_id AS line,
                                       (SELECT id FROM order_summary WHERE order_id = o.id LIMIT 1) AS summary
                                  FROM "order" o JOIN order_item oi ON oi.order_id = o.id WHERE o.id = $1`, [placed.id]);
            const made = [['public."order"', placed.id], ['public.order_address', o.ship], ['public.order_address', o.bill],
                ['public.order_item', o.item], ['public.order_line_item', o.line], ['public.order_summary', o.summary]];
            const st = await Promise.all(made.map(([t, id]) => stamps(t, id)));
            const n = await Promise.all(made.map(([t, id]) => logged('write_insert', t, id)));
            ok(st.every(x => x.created === sid) && n.every(x => x === 1),
                `createOrders: the order ${placed.id}, its two addresses, its item, line item and summary created in the session, each write_insert logged with its key`, { st, n });
        }
        const johnOrders = async () => (await q1('SELECT count(*)::int AS n FROM "order" WHERE customer_id = $1', [J])).n;
        const johnOrdersBefore = await johnOrders();
        await refused("orderModule.createOrders(John) in Veronica's session", () => orders.createOrders([orderInput(J)]),
            async () => ok(await johnOrders() === johnOrdersBefore, 'John has no new order'), /belongs to|may not write row/);

        // --- Medusa's store workflows (one module call per step, each its own transaction) --------------
        await good('updateCustomersWorkflow (POST /store/customers/me)', () => flows.updateCustomersWorkflow(container).run({
            input: { selector: { id: V }, update: { phone: `+44 20 7946 ${run.slice(-4)}` } } }));
        ok(await logged('write_update', 'public.customer', V) >= 2, 'updateCustomersWorkflow: its write_update of public.customer logged');
        const wfAddress = await good('createCustomerAddressesWorkflow (POST /store/customers/me/addresses)', () => flows.createCustomerAddressesWorkflow(container).run({
            input: { addresses: [{ customer_id: V, first_name: 'Vera', address_1: '3 Side Street', city: 'Hull', country_code: 'gb' }] } }));
        const wfAddressId = wfAddress && wfAddress.result && wfAddress.result[0] && wfAddress.result[0].id;
        ok(wfAddressId && (await stamps('public.customer_address', wfAddressId)).created === sid
            && await logged('write_insert', 'public.customer_address', wfAddressId) === 1,
            `createCustomerAddressesWorkflow: the address ${wfAddressId} created in the session and logged`);
        await good('updateLineItemInCartWorkflow (POST /store/carts/:id/line-items/:line_id)', () => flows.updateLineItemInCartWorkflow(container).run({
            input: { cart_id: ids.carts.veronica, item_id: ids.cartLines.veronica[0], update: { quantity: 4 } } }));
        let row = await q1(rowAndStamp('public.cart_line_item', 't.quantity'), [ids.cartLines.veronica[0]]);
        ok(row.quantity === 4 && String(row.changed_session) === sid && await logged('write_update', 'public.cart_line_item', ids.cartLines.veronica[0]) >= 1,
            "updateLineItemInCartWorkflow: Veronica's line has quantity 4, stamped and logged", row);
        await good('addToCartWorkflow (POST /store/carts/:id/line-items)', () => flows.addToCartWorkflow(container).run({
            input: { cart_id: ids.carts.veronica, items: [{ variant_id: ids.variants.blue, quantity: 1 }] } }));
        await refused("updateLineItemInCartWorkflow on John's cart and line in Veronica's session", () => flows.updateLineItemInCartWorkflow(container).run({
            input: { cart_id: ids.carts.john, item_id: ids.cartLines.john[0], update: { quantity: 7 } } }), () => sameLines('updateLineItemInCartWorkflow'));

        // --- protected: the e-mail (loginas.protect), the credentials (the recipe's trigger) ----------------
        const veronicaEmail = rowAndStamp('public.customer', 't.email');
        before = await q1(veronicaEmail, [V]);
        await refused("customerModule.updateCustomers(Veronica's own e-mail) in her session",
            () => customer.updateCustomers(V, { email: 'veronica.new@example.com' }),
            async () => ok((await q1(veronicaEmail, [V])).email === before.email, "Veronica's e-mail unchanged"), /protected/);
        const hash = async email => (await q1(`SELECT p.provider_metadata->>'password' AS h FROM provider_identity p WHERE p.entity_id = $1`, [email])).h;
        const vHash = await hash('veronica@example.com');
        const pw = await inSession(() => auth.updateProvider('emailpass', { entity_id: 'veronica@example.com', password: 'changed-by-the-assistant' }));
        ok(pw.result && pw.result.success === false && /credentials cannot be changed in a Login as Customer session/.test(pw.result.error)
            && await hash('veronica@example.com') === vHash,
            `authModule.updateProvider('emailpass', Veronica's password) in her session: refused by the recipe's trigger (42501: ${pw.result && message({ message: pw.result.error }).split('\n')[0]}), hash unchanged`, pw.error || pw.result);
        const jHash = await hash('john@example.com');
        const outside = await auth.updateProvider('emailpass', { entity_id: 'john@example.com', password: `johns-own-${run}` });
        ok(outside.success === true && await hash('john@example.com') !== jHash,
            "outside a session the same call changes John's password (the trigger only acts in sessions)", outside);

        ok(allUnassumed.length === 0, 'no write of any call in the session ran outside a transaction that assumed it (the hook\'s knex audit)', allUnassumed);

        // --- the durable refusal log: the refused calls as write_refused failure rows ------------------
        if (!(await q1('SHOW shared_preload_libraries')).shared_preload_libraries.includes('loginas')) {
            ok(true, '# SKIP durable refusal log: loginas is not in shared_preload_libraries');
        } else {
            // (they name the session and the customer's key; the admin's key of a text-keyed admin
            // is not in refusal rows yet — printed, not asserted)
            let got;
            for (let i = 0; i < 100; i++) {    // a background worker writes them, at most seconds later
                got = await q1(`SELECT count(*)::int AS n, string_agg(DISTINCT coalesce(admin_key, 'NULL'), ',') AS admin_keys FROM loginas.action_log
                    WHERE action = 'write_refused' AND result = 'failure' AND session_id = $1
                      AND customer_key = $2 AND details->>'sqlstate' = '42501' AND db_role = $3`, [sid, V, env('MEDUSA_STOREFRONT')]);
                if (got.n >= refusals.n) break;
                await new Promise(res => setTimeout(res, 100));
            }
            ok(got.n >= refusals.n, `the ${refusals.n} refused calls are write_refused failure rows of the action log (session ${sid}, customer_key ${V}, db_role ${env('MEDUSA_STOREFRONT')}, SQLSTATE 42501)`, got);
            console.log(`# their admin_key: ${got.admin_keys}`);
        }

        // --- the reports, as the reports' role ---------------------------------------------------------
        const hist = (await reports.query(`SELECT "Admin" AS admin, "Action" AS action, "Session"::text AS session, "Table" AS tbl, "Keys" AS keys
                                             FROM loginas.customer_history($1)`, [V])).rows;
        const mine = hist.filter(h => h.session === sid && h.admin === 'ada@shop.test');
        const tables = new Set(mine.map(h => h.tbl));
        const want = ['public.customer', 'public.customer_address', 'public.cart', 'public.cart_address', 'public.cart_line_item',
            'public.cart_line_item_tax_line', 'public.cart_line_item_adjustment', 'public."order"', 'public.order_address',
            'public.order_item', 'public.order_line_item'];
        ok(want.every(t => tables.has(t)), `customer_history('${V}') as ${env('MEDUSA_REPORTS')}: ada's writes in session ${sid} to ${want.join(', ')}`, [...tables]);
        ok(newCart && mine.some(h => h.tbl === 'public.cart' && String(h.keys).includes(newCart.id)) && mine.some(h => /ticket/i.test(h.action)),
            "customer_history: the rows name Medusa's ids (the new cart's key) and the ticket ada issued", mine.slice(0, 6));
        const forJohn = (await reports.query('SELECT count(*)::int AS n FROM loginas.customer_history($1) WHERE "Session" = $2', [J, sid])).rows[0];
        ok(forJohn.n === 0, `customer_history('${J}') (John) shows nothing of Veronica's session`, forJohn);
        const report = (await reports.query(`SELECT "Action" AS action, "Username" AS username, "Result" AS result, "Details" AS details
                                               FROM loginas.actions_report(customer_key => $1, page_size => 1000)`, [V])).rows;
        const adas = report.filter(x => x.username === 'ada@shop.test');
        const named = `customer veronica@example.com (${V}); store view ${ids.salesChannel}; session ${sid}; from order #1; reason: support call 4711`;
        const writes = adas.filter(x => /^Write: /.test(x.action) && x.details.startsWith(named));
        ok(writes.length > 0 && writes.some(x => x.details.includes(`public.cart_line_item: 1 row, key`)) && adas.some(x => /Ticket issued/i.test(x.action)),
            `the Admin Actions Report (actions_report(customer_key => '${V}')): ${adas.length} rows of ada@shop.test, ${writes.length} writes, Details "${named}; public.…: N rows, keys (…)"`,
            report.slice(0, 6));
        const refusedRows = report.filter(x => x.action === 'Refused: write' && x.result === 'failure' && x.details.startsWith(named) && /42501/.test(x.details));
        ok(refusedRows.length >= refusals.n, `the Admin Actions Report lists the ${refusedRows.length} refused writes (Refused: write, failure, 42501)`, report.map(x => x.action).slice(0, 20));
        const who = (await reports.query(`SELECT c.id, s.changed_session::text AS changed, ses.admin_username, ses.reason
                                            FROM public.customer c
                                            LEFT JOIN loginas.row_stamps s ON s.relation = 'public.customer'::regclass
                                                                          AND s.key = to_json(ARRAY[c.id])::text
                                            LEFT JOIN loginas.sessions ses ON ses.session_id = s.changed_session
                                           WHERE c.id = $1`, [V])).rows[0];
        ok(who && who.changed === sid && who.admin_username === 'ada@shop.test' && /4711/.test(who.reason),
            "docs/platforms/medusa.md's query, as the reports' role: Veronica's row last changed by ada's session (call 4711)", who);
        const [{ intact }] = (await reports.query('SELECT intact FROM loginas.verify_log()')).rows;
        ok(intact === true, 'verify_log(): the log is intact');

        // --- logout: the next call fails in the hook, no connection stays checked out -------------------
        await sf('SELECT loginas.end(?)', [key]);
        before = await q1(johnRow, [V]);
        const after = await inSession(() => customer.updateCustomers(V, { first_name: 'Nope' }));
        const inner = after.error && (after.error instanceof LoginasSessionEnded ? after.error : after.error.cause instanceof LoginasSessionEnded ? after.error.cause : null);
        ok(inner && inner.sqlstate === '28000', `after loginas.end(): the next call fails in the hook with LoginasSessionEnded (${inner && inner.sqlstate}): log the visitor out`, after.error || after.result);
        await new Promise(res => setTimeout(res, 200));
        ok(pool.numUsed() === 0, `no knex connection left checked out (used ${pool.numUsed()}, free ${pool.numFree()})`);
        await sameRow("after the refused assume: Veronica's row", johnRow, [V], before);
        const idle = await q1(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`);
        ok(idle.n === 0, `no connection idle in (aborted) transaction (${idle.n})`);
        const leaked = await q1(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, [key]);
        ok(leaked.n === 0, 'the session key is sent as a bind parameter (in no statement text)');

        // --- outside any session, the same code writes John's rows as always ------------------------------
        const logBefore = await q1("SELECT count(*)::int AS n FROM loginas.action_log WHERE action LIKE 'write%'");
        await customer.updateCustomers(J, { last_name: `Smith ${run}` });
        s = await stamps('public.customer', J);
        const logAfter = await q1("SELECT count(*)::int AS n FROM loginas.action_log WHERE action LIKE 'write%'");
        ok(s.created === null && s.changed === null && logAfter.n === logBefore.n
            && (await q1('SELECT last_name FROM customer WHERE id = $1', [J])).last_name === `Smith ${run}`,
            'outside a session Medusa updates John as always (no stamp, no log row)', { s, logBefore, logAfter });
    }
}
exports.default = drive;
