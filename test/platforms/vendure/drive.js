// test/platforms/vendure/drive.js — Vendure's own service code inside a Login as Customer
// session.  Vendure runs as the storefront's database role (synchronize: false: that role
// owns no table, so only the schema owner's Vendure synchronizes), with the TypeORM hook of
// docs/examples/node/typeorm/ as its subscriber; the admin backend's calls (begin) go
// through a pool of the admin backend's role.  Every call runs as Vendure's GraphQL
// mutations run it: connection.withTransaction(ctx, ...) (what @Transaction() does).
// The recipe tracks every table with stamps => 'table': the stamps are read from
// loginas.row_stamps, joined by the row's primary key.
//
//   node drive.js IDS              the session tests
//   node drive.js IDS after-sync   after a restart of Vendure with synchronize: true
//                                  (run.sh): a new session still writes, is stamped
//                                  and logged, and is still contained
//   node drive.js IDS one-role     one database role (docs/platforms/vendure-one-role.sql):
//                                  Vendure runs as a role in both loginas_admin and
//                                  loginas_storefront, and the admin backend's calls go
//                                  through Vendure's own pool; consent, permissions and
//                                  containment still hold
//
// Prints "ok - ..." / "not ok - ..." lines (test/platforms/run.sh numbers and counts them).
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const pg = require('pg');
const {
    bootstrap, TransactionalConnection, CustomerService, OrderService, UserService, AdministratorService, Customer, isGraphQlErrorResult,
} = require('@vendure/core');
const { env, vendureConfig, makeCtx } = require('./common');
const hookPath = path.resolve(__dirname, '../../../docs/examples/node/typeorm/loginas-typeorm.js');
const { loginasContext, LoginasSubscriber, LoginasAuditLogger, LoginasSessionEnded, loginasMiddleware } = require(hookPath);

let failures = 0;
function ok(cond, name, diag) {
    console.log(`${cond ? 'ok' : 'not ok'} - ${name}`);
    if (!cond) {
        failures++;
        if (diag !== undefined) {
            const text = diag instanceof Error ? `${diag.code || ''} ${diag.message}` : typeof diag === 'string' ? diag : JSON.stringify(diag);
            for (const line of text.split('\n').slice(0, 12)) console.log(`#   ${line}`);
        }
    }
}
const sqlstate = e => (e && (e.code || (e.driverError && e.driverError.code))) || undefined;

async function main() {
    const ids = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    const mode = process.argv[3] || 'session';
    if (!['session', 'after-sync', 'one-role'].includes(mode)) throw new Error(`unknown mode ${mode}`);
    const oneRole = mode === 'one-role';
    const servingRole = env(oneRole ? 'VENDURE_APP' : 'VENDURE_STOREFRONT');
    const conn = role => ({ host: env('PGHOST'), port: Number(env('PGPORT')), database: env('PGDATABASE'), user: role });
    // the admin backend's pool: its own role, or (one role) Vendure's own pool, set below
    let backend = oneRole ? undefined : new pg.Pool({ ...conn(env('VENDURE_BACKEND')), max: 2 });
    const su = new pg.Client(conn('postgres'));                                 // the test's eyes
    const reports = new pg.Client(conn(env('VENDURE_REPORTS')));               // loginas_reporting
    await su.connect();
    await reports.connect();
    const q1 = async (sql, params) => (await su.query(sql, params)).rows[0];

    // The storefront's server-side map from a Vendure session (its bearer token) to the
    // loginas session key (a real shop keeps it with its session store; see the hook's README).
    const loginasKeys = new Map();
    const bearer = req => (/^Bearer (.+)$/.exec(req.headers.authorization || '') || [])[1];
    const app = await bootstrap(vendureConfig({
        username: servingRole, synchronize: false,
        subscribers: [LoginasSubscriber], logger: new LoginasAuditLogger(),
        middleware: [{ route: 'shop-api', handler: loginasMiddleware(req => loginasKeys.get(bearer(req))) }],
    }));
    const connection = app.get(TransactionalConnection);
    const customers = app.get(CustomerService);
    const orders = app.get(OrderService);
    const users = app.get(UserService);
    const admins = app.get(AdministratorService);
    const pool = connection.rawConnection.driver.master;        // Vendure's pg pool
    if (oneRole) backend = pool;
    const role = (await connection.rawConnection.query(
        `SELECT current_user AS r, pg_has_role('loginas_admin', 'MEMBER') AS admin,
                pg_has_role('loginas_storefront', 'MEMBER') AS storefront`))[0];
    if (oneRole) {
        ok(role.r === servingRole && role.admin && role.storefront,
            `one role: Vendure runs as ${role.r}, a member of loginas_admin and loginas_storefront, synchronize off; the admin backend's calls go through Vendure's own pool`, role);
    } else {
        ok(role.r === servingRole && !role.admin && role.storefront, `Vendure runs as the storefront role (${role.r}), synchronize off`, role);
    }

    const V = ids.customers.veronica, J = ids.customers.john, ada = ids.admins.ada;
    // a row's stamps (stamps => 'table'): loginas.row_stamps joined by the row's key, as
    // docs/platforms/vendure.md shows; no row there: no session wrote it (both NULL)
    const stampJoin = (table, alias) => `LEFT JOIN loginas.row_stamps s ON s.relation = '${table}'::regclass
                                            AND s.key = to_json(ARRAY[${alias}.id::text])::text`;
    const stamps = async (table, id) => q1(
        `SELECT s.created_session::text AS created, s.changed_session::text AS changed, s.changed_at
           FROM ${table} t ${stampJoin(table, 't')} WHERE t.id = $1`, [id]);
    const logged = async (action, sid, table, key) => Number((await q1(
        `SELECT count(*) AS n FROM loginas.action_log
          WHERE action = $1 AND result = 'success' AND session_id = $2 AND admin_id = $3 AND customer_id = $4
            AND details->>'table' = $5 AND ($6::text IS NULL OR details->'keys' @> jsonb_build_array(jsonb_build_array($6::text)))`,
        [action, sid, ada, V, table, key === undefined ? null : String(key)])).n);

    // The storefront's requests in a session: Veronica's user on the default channel, shop
    // API; each one with the key in AsyncLocalStorage and one transaction (@Transaction()).
    const requests = async (sid, key) => {
        const ctx = await makeCtx(app, { apiType: 'shop', userId: ids.users.veronica });
        const request = work => loginasContext.run(key, async () => {
            const result = await connection.withTransaction(ctx, work);
            return { result, unassumed: loginasContext.unassumedWrites().slice(), sessionId: loginasContext.get().sessionId };
        });
        const refusals = { n: 0 };
        const refusedRequest = async (name, work, check) => {
            refusals.n++;
            try {
                const { result } = await request(work);
                ok(false, `${name}: refused (42501)`, isGraphQlErrorResult(result) ? `${result.errorCode}: ${result.message}` : 'it committed');
            } catch (e) {
                ok(sqlstate(e) === '42501', `${name}: refused (42501${/COMMIT/i.test(e.query || '') ? ', at COMMIT' : ''})`, e);
            }
            if (check) await check();
        };
        const allUnassumed = [];
        const goodRequest = async (name, work) => {
            try {
                const out = await request(work);
                allUnassumed.push(...out.unassumed);
                ok(!isGraphQlErrorResult(out.result), `${name}: committed`, out.result);
                ok(out.sessionId === sid, `${name}: its transaction assumed session ${sid}`, out.sessionId);
                ok(out.unassumed.length === 0, `${name}: no write ran outside the session's transaction`, out.unassumed.join('\n'));
                return out.result;
            } catch (e) {
                ok(false, `${name}: committed`, e);
                return undefined;
            }
        };

        return { ctx, request, refusedRequest, goodRequest, allUnassumed, refusals };
    };

    const sf = (sql, params) => connection.rawConnection.query(sql, params);   // Vendure's own connection (the storefront's role, or the one role)
    const chk = async (a, c) => (await backend.query('SELECT allowed, reason FROM loginas.check($1, $2)', [a, c])).rows[0];
    // an admin backend call that loginas refuses: its SQLSTATE and its message
    const refusedCall = async (name, sql, params, state, message) => {
        try {
            await backend.query(sql, params);
            ok(false, `${name}: refused (${state})`, 'it succeeded');
        } catch (e) {
            ok(sqlstate(e) === state && e.message === message, `${name}: refused (${state}: ${message})`, e);
        }
    };
    // the durable refusal log (loginas in shared_preload_libraries): the session's refused
    // writes as write_refused failure rows, with the database role that made them
    const refusalsLogged = async (sid, n, what) => {
        if (!(await q1('SHOW shared_preload_libraries')).shared_preload_libraries.includes('loginas')) {
            ok(true, '# SKIP durable refusal log: loginas is not in shared_preload_libraries');
            return;
        }
        let got = 0;
        for (let i = 0; i < 100; i++) {    // a background worker writes them, at most seconds later
            got = Number((await q1(`SELECT count(*) AS n FROM loginas.action_log
                WHERE action = 'write_refused' AND result = 'failure' AND session_id = $1 AND admin_id = $2
                  AND customer_id = $3 AND details->>'sqlstate' = '42501' AND db_role = $4`,
                [sid, ada, V, servingRole])).n);
            if (got >= n) break;
            await new Promise(res => setTimeout(res, 100));
        }
        ok(got >= n, what, `${got} rows`);
    };

    // --- one database role (docs/platforms/vendure-one-role.sql): Vendure runs as a role in
    //     both loginas_admin and loginas_storefront, and the admin backend's calls (check,
    //     begin) go through Vendure's own pool.  What that role can do that two roles could
    //     not is in docs/platforms/vendure.md; what loginas still enforces is asserted here.
    const oneRoleTests = async () => {
        const wes = ids.admins.wes, johnAddress = ids.addresses.john, johnLine = ids.orderLines.john[0];
        // Veronica's consent, given in her own request (no session), through the same role
        await sf('SELECT loginas.set_assistance($1, true)', [V]);

        // permissions: wes's only role (warehouse) lacks the login resource
        let r = await chk(wes, V);
        ok(!r.allowed && /not allowed/.test(r.reason), 'one role: check(wes, Veronica) is false: his role (warehouse) lacks the login resource', r);
        await refusedCall('one role: begin(wes, Veronica)', `SELECT token FROM loginas.begin($1, $2, reason => 'one role')`, [wes, V],
            '42501', 'admin user "wes@shop.test" is not allowed to login as a customer');
        // consent: John has never allowed remote shopping assistance
        r = await chk(ada, J);
        ok(!r.allowed && /assistance is disabled/.test(r.reason), 'one role: check(ada, John) is false: John has not allowed remote shopping assistance', r);
        await refusedCall('one role: begin(ada, John)', `SELECT token FROM loginas.begin($1, $2, reason => 'one role')`, [ada, J],
            '42501', 'Login as Customer assistance is disabled for this Customer.');
        const none = await q1(`SELECT count(*) FILTER (WHERE admin_id = $1) AS wes, count(*) FILTER (WHERE customer_id = $2) AS john
                                 FROM loginas.session`, [wes, J]);
        ok(Number(none.wes) === 0 && Number(none.john) === 0, 'one role: the refused begins left no ticket (no session of wes, none for John)', none);

        // a session of ada as Veronica, begun and redeemed by the same role on the same pool
        const ticket = (await backend.query(`SELECT token FROM loginas.begin($1, $2, reason => $3)`,
            [ada, V, 'support call 4713, one role'])).rows[0].token;
        const redeemed = (await sf('SELECT session_id, session_key, customer_id FROM loginas.redeem($1)', [ticket]))[0];
        const sid = String(redeemed.session_id), key = redeemed.session_key;
        ok(String(redeemed.customer_id) === String(V), `one role: session ${sid} of ada as Veronica, begun and redeemed on Vendure's pool`, redeemed);
        const { request, refusedRequest, goodRequest, refusals } = await requests(sid, key);

        // containment: Veronica's own rows are written, stamped and logged ...
        await goodRequest("one role: CustomerService.updateAddress(Veronica's address)",
            c => customers.updateAddress(c, { id: ids.addresses.veronica, streetLine2: 'Flat 4713' }));
        let s = await stamps('public.address', ids.addresses.veronica);
        ok(s.changed === sid, "one role: Veronica's address stamped with the session (row_stamps)", s);
        ok(await logged('write_update', sid, 'public.address', ids.addresses.veronica) === 1,
            'one role: write_update of public.address logged with its key (session, admin ada, customer Veronica)');
        const line = await q1(`SELECT o.id AS "order", ol.id AS line, ol.quantity FROM "order" o JOIN order_line ol ON ol."orderId" = o.id
                                WHERE o."customerId" = $1 AND o.active ORDER BY ol.id LIMIT 1`, [V]);
        if (line) {
            await goodRequest("one role: OrderService.adjustOrderLine(Veronica's line)",
                c => orders.adjustOrderLine(c, line.order, line.line, line.quantity + 1));
            const row = await q1(`SELECT t.quantity, s.changed_session::text AS changed FROM order_line t ${stampJoin('public.order_line', 't')} WHERE t.id = $1`, [line.line]);
            ok(row.quantity === line.quantity + 1 && row.changed === sid, `one role: Veronica's line has quantity ${line.quantity + 1}, stamped`, row);
            ok(await logged('write_update', sid, 'public.order_line', line.line) >= 1, 'one role: write_update of public.order_line logged with its key');
        } else ok(false, 'one role: Veronica has an active order with a line (the shop API test made one)');

        // ... and another customer's are refused, the whole request rolled back
        const johnBefore = async () => q1(`SELECT t."streetLine1" AS street, t."streetLine2" AS street2, s.changed_session AS s
                                             FROM address t ${stampJoin('public.address', 't')} WHERE t.id = $1`, [johnAddress]);
        const jb = await johnBefore();
        await refusedRequest("one role: CustomerService.updateAddress(John's address) in Veronica's session",
            c => customers.updateAddress(c, { id: johnAddress, streetLine1: '666 Fraud Lane', streetLine2: 'one role' }),
            async () => {
                const row = await johnBefore();
                ok(row.street === jb.street && row.street2 === jb.street2 && row.s === null, "one role: John's address is unchanged (and no session's)", row);
            });
        await refusedRequest("one role: OrderService.adjustOrderLine(John's line) in Veronica's session",
            c => orders.adjustOrderLine(c, ids.orders.john, johnLine, 9),
            async () => ok((await q1('SELECT quantity FROM order_line WHERE id = $1', [johnLine])).quantity === 3, "one role: John's line still has quantity 3"));
        await refusalsLogged(sid, refusals.n,
            `one role: the ${refusals.n} refused requests are write_refused failure rows of the action log, db_role ${servingRole}`);

        // permissions inside the session: the admin backend takes ada's customer-support role
        // (the one with the login resource) away through Vendure's AdministratorService: the
        // live session's next request is refused at assume; with the role back, it goes on
        const adminCtx = await makeCtx(app, { apiType: 'admin', userId: 1 });
        const roleIds = Object.fromEntries((await sf('SELECT code, id FROM role')).map(x => [x.code, x.id]));
        const setAdaRoles = codes => connection.withTransaction(adminCtx, c => admins.update(c, { id: ada, roleIds: codes.map(k => roleIds[k]) }));
        await setAdaRoles(['sales']);
        try {
            await request(c => customers.update(c, { id: V, phoneNumber: '+44 20 7946 4714' }));
            ok(false, "one role: with ada's customer-support role taken away, the session's next request is refused", 'it committed');
        } catch (e) {
            ok(e instanceof LoginasSessionEnded && e.sqlstate === '42501' && e.cause
                && e.cause.message === 'admin user "ada@shop.test" is not allowed to login as a customer',
                `one role: with ada's customer-support role taken away (AdministratorService.update), the session's next request is refused at assume (42501: admin user "ada@shop.test" is not allowed to login as a customer)`, e);
        }
        await setAdaRoles(['customer-support', 'sales']);
        await goodRequest("one role: ada's role given back, the same session's CustomerService.update(Veronica)",
            c => customers.update(c, { id: V, phoneNumber: '+44 20 7946 4715' }));
        s = await stamps('public.customer', V);
        ok(s.changed === sid, 'one role: the customer row stamped with the session', s);

        // consent inside the session: the role may set a customer's consent, a session may not
        try {
            await request(c => connection.getRepository(c, Customer).query('SELECT loginas.set_assistance($1, true)', [J]));
            ok(false, "one role: set_assistance(John, true) inside Veronica's session is refused", 'it committed');
        } catch (e) {
            ok(sqlstate(e) === '42501' && e.message === 'remote shopping assistance cannot be changed in a Login as Customer session',
                "one role: set_assistance(John, true) inside Veronica's session is refused (42501: remote shopping assistance cannot be changed in a Login as Customer session)", e);
        }
        r = await chk(ada, J);
        ok(!r.allowed, 'one role: John still has not allowed assistance', r);

        // Veronica revokes her consent (her own request): the live session's next request is refused
        await sf('SELECT loginas.set_assistance($1, false)', [V]);
        const phone = (await q1('SELECT "phoneNumber" AS p FROM customer WHERE id = $1', [V])).p;
        try {
            await request(c => customers.update(c, { id: V, phoneNumber: '+44 20 7946 4713' }));
            ok(false, "one role: after Veronica revokes her consent, the session's next request is refused", 'it committed');
        } catch (e) {
            const detail = (e.cause && e.cause.detail) || '';
            ok(e instanceof LoginasSessionEnded && e.sqlstate === '28000' && /session has ended/.test(e.message) && /\(consent_revoked\)/.test(detail),
                "one role: after Veronica revokes her consent, the session's next request is refused at assume (28000: Login as Customer session has ended, consent_revoked)",
                { message: e.message, detail });
        }
        const after = await q1(`SELECT (SELECT "phoneNumber" FROM customer WHERE id = $1) AS p,
                                       (SELECT end_reason FROM loginas.session WHERE session_id = $2) AS why`, [V, sid]);
        ok(after.p === phone && after.why === 'consent_revoked', "one role: the session ended (consent_revoked), Veronica's row unchanged", after);
        await refusedCall('one role: begin(ada, Veronica) after she revoked', `SELECT token FROM loginas.begin($1, $2, reason => 'one role')`, [ada, V],
            '42501', 'Login as Customer assistance is disabled for this Customer.');
        ok(pool.totalCount - pool.idleCount === 0, "one role: no connection of Vendure's pool is left checked out",
            { total: pool.totalCount, idle: pool.idleCount });
    };

    try {
        if (mode === 'after-sync') {
            // --- after run.sh restarted Vendure with synchronize: true: a new session of ada
            //     as Veronica writes through Vendure's services, stamped and logged, contained
            const ticket = (await backend.query(`SELECT token FROM loginas.begin($1, $2, reason => $3)`,
                [ada, V, 'support call 4712, after a synchronize'])).rows[0].token;
            const redeemed = (await connection.rawConnection.query('SELECT session_id, session_key FROM loginas.redeem($1)', [ticket]))[0];
            const sid = String(redeemed.session_id), key = redeemed.session_key;
            ok(true, `after synchronize: a new session ${sid} of ada as Veronica, redeemed on Vendure's connection`);
            const { refusedRequest, goodRequest } = await requests(sid, key);
            await goodRequest('after synchronize: CustomerService.update(Veronica)',
                c => customers.update(c, { id: V, phoneNumber: '+44 20 7946 0100' }));
            let s = await stamps('public.customer', V);
            ok(s.changed === sid, `after synchronize: the customer row's last-change stamp in loginas.row_stamps is the new session ${sid}`, s);
            ok(await logged('write_update', sid, 'public.customer', V) === 1,
                'after synchronize: write_update of public.customer logged (new session, ada, Veronica)');
            const address = await goodRequest('after synchronize: CustomerService.createAddress(Veronica)', c => customers.createAddress(c, V, {
                fullName: 'Veronica Costello', streetLine1: '4 Station Road', city: 'Leeds', postalCode: 'LS2 2AA', countryCode: 'GB' }));
            if (address) {
                s = await stamps('public.address', address.id);
                ok(s.created === sid && s.changed === sid, 'after synchronize: the new address was created in the session (row_stamps)', s);
                ok(await logged('write_insert', sid, 'public.address', address.id) === 1,
                    'after synchronize: write_insert of public.address logged with its key');
            }
            const john = await q1(`SELECT t."phoneNumber" AS p, s.changed_session AS s FROM customer t ${stampJoin('public.customer', 't')} WHERE t.id = $1`, [J]);
            await refusedRequest("after synchronize: CustomerService.update(John) in Veronica's session",
                c => customers.update(c, { id: J, phoneNumber: '+44 20 7946 0667' }),
                async () => {
                    const row = await q1(`SELECT t."phoneNumber" AS p, s.changed_session AS s FROM customer t ${stampJoin('public.customer', 't')} WHERE t.id = $1`, [J]);
                    ok(row.p === john.p && row.s === null, "after synchronize: John's customer row is unchanged (and no session's)", row);
                });
            await refusedRequest("after synchronize: OrderService.adjustOrderLine(John's line) in Veronica's session",
                c => orders.adjustOrderLine(c, ids.orders.john, ids.orderLines.john[0], 9),
                async () => ok((await q1('SELECT quantity FROM order_line WHERE id = $1', [ids.orderLines.john[0]])).quantity === 3,
                    "after synchronize: John's line still has quantity 3"));
            // the attribution query of docs/platforms/vendure.md ("Who wrote a row"), as vendure_reports
            const who = (await reports.query(
                `SELECT c.id, c."emailAddress", s.created_session, s.changed_session, s.changed_at,
                        ses.admin_username, ses.reason
                   FROM public.customer c
                   LEFT JOIN loginas.row_stamps s ON s.relation = 'public.customer'::regclass
                                                 AND s.key = to_json(ARRAY[c.id::text])::text
                   LEFT JOIN loginas.sessions ses ON ses.session_id = s.changed_session
                  WHERE c.id = $1`, [V])).rows[0];
            ok(who && String(who.changed_session) === sid && who.admin_username === 'ada@shop.test' && /4712/.test(who.reason),
                "docs/platforms/vendure.md's query, as vendure_reports: Veronica's row last changed by ada's new session (call 4712)", who);
            await connection.rawConnection.query('SELECT loginas.end($1)', [key]);
            return;
        }

        if (mode === 'one-role') {
            await oneRoleTests();
            return;
        }

        // --- consent, permissions, guests -------------------------------------------
        await sf(`SELECT loginas.set_assistance(${V}, true)`);
        await sf(`SELECT loginas.set_assistance(${ids.customers.carol}, true)`);
        let r = await chk(ada, V);
        ok(r.allowed, 'check: admin ada (two roles, customer-support has login) may log in as Veronica', r);
        r = await chk(ids.admins.wes, V);
        ok(!r.allowed && /not allowed/.test(r.reason), 'check: admin wes (role warehouse only) may not', r);
        r = await chk(ada, J);
        ok(!r.allowed && /assistance is disabled/.test(r.reason), 'check: John has not allowed remote shopping assistance', r);
        try {
            await backend.query(`SELECT * FROM loginas.begin($1, $2, reason => 'guest')`, [ada, ids.customers.guest]);
            ok(false, 'begin: a Vendure guest (customer without user) is refused');
        } catch (e) {
            ok(sqlstate(e) === '55000' && /guest/.test(e.message), 'begin: a Vendure guest (customer without user) is refused (55000)', e);
        }
        try {
            await backend.query(`SELECT * FROM loginas.begin_from($1, 'order', $2, reason => 'guest order')`, [ada, ids.orders.guest]);
            ok(false, "begin_from: a guest's order is refused");
        } catch (e) {
            ok(sqlstate(e) === '55000', "begin_from: a guest's order is refused (55000)", e);
        }
        // Carol is in both channels: a session on the second channel's store view
        const carolTicket = (await backend.query(
            `SELECT token, store_id FROM loginas.begin($1, $2, store_id => $3, reason => 'call 7')`,
            [ada, ids.customers.carol, ids.channels.second])).rows[0];
        ok(String(carolTicket.store_id) === String(ids.channels.second),
            'begin: Carol (in both channels) on the second channel', carolTicket);
        await backend.query('SELECT loginas.end_admin($1)', [ada]);

        // --- the admin backend begins from Veronica's order; the storefront redeems ---
        const ticket = (await backend.query(
            `SELECT token FROM loginas.begin_from($1, 'order', $2, reason => $3, client_addr => '192.0.2.10')`,
            [ada, ids.orders.veronica, 'support call 4711'])).rows[0].token;
        const redeemed = (await connection.rawConnection.query(
            'SELECT session_id, session_key, customer_id, store_id, banner FROM loginas.redeem($1)', [ticket]))[0];
        const sid = String(redeemed.session_id), key = redeemed.session_key;
        ok(String(redeemed.customer_id) === String(V) && /Veronica Costello/.test(redeemed.banner),
            `redeem on Vendure's connection: session ${sid} for customer ${V} (${redeemed.banner})`, redeemed);
        const { ctx, request, refusedRequest, goodRequest, allUnassumed, refusals } = await requests(sid, key);
        // 1. CustomerService.update
        await goodRequest('CustomerService.update(Veronica)', c => customers.update(c, { id: V, phoneNumber: '+44 20 7946 0001' }));
        let s = await stamps('public.customer', V);
        ok(s && s.changed === sid, 'CustomerService.update: customer row stamped with the session', s);
        ok(await logged('write_update', sid, 'public.customer', V) === 1,
            'CustomerService.update: write_update of public.customer logged (session, admin ada, customer Veronica)');
        ok(await logged('write_insert', sid, 'public.history_entry') >= 1,
            "CustomerService.update: Vendure's CUSTOMER_DETAIL_UPDATED history entry logged as write_insert");
        await refusedRequest("CustomerService.update(John) in Veronica's session",
            c => customers.update(c, { id: J, phoneNumber: '+44 20 7946 0666' }),
            async () => {
                const row = await q1(`SELECT t."phoneNumber" AS p, s.changed_session AS s FROM customer t ${stampJoin('public.customer', 't')} WHERE t.id = $1`, [J]);
                ok(row.p !== '+44 20 7946 0666' && row.s === null, "John's customer row is unchanged (and no session's)", row);
            });

        // 2. CustomerService.createAddress (insert, then linked to the customer by a second statement)
        const address = await goodRequest('CustomerService.createAddress(Veronica)', c => customers.createAddress(c, V, {
            fullName: 'Veronica Costello', streetLine1: '2 Market Street', city: 'Leeds', postalCode: 'LS1 1AA', countryCode: 'GB' }));
        if (address) {
            const row = await q1(`SELECT t."customerId" AS c, s.created_session::text AS created FROM address t ${stampJoin('public.address', 't')} WHERE t.id = $1`, [address.id]);
            ok(row && String(row.c) === String(V) && row.created === sid, "createAddress: the address is Veronica's, created in the session", row);
            ok(await logged('write_insert', sid, 'public.address', address.id) === 1, 'createAddress: write_insert of public.address logged with its key');
        }
        const johnAddresses = Number((await q1('SELECT count(*) AS n FROM address WHERE "customerId" = $1', [J])).n);
        await refusedRequest("CustomerService.createAddress(John) in Veronica's session", c => customers.createAddress(c, J, {
            fullName: 'Not John', streetLine1: '666 Fraud Lane', city: 'Leeds', postalCode: 'LS6 6AA', countryCode: 'GB' }),
            async () => ok(Number((await q1('SELECT count(*) AS n FROM address WHERE "customerId" = $1', [J])).n) === johnAddresses,
                'John has no new address'));

        // 3. OrderService.addItemToOrder (a new order line)
        const order = await goodRequest('OrderService.addItemToOrder(Veronica\'s order)',
            c => orders.addItemToOrder(c, ids.orders.veronica, ids.variants[1], 2));
        const newLine = order && order.lines && order.lines.find(l => String(l.productVariantId) === String(ids.variants[1]));
        if (newLine) {
            s = await stamps('public.order_line', newLine.id);
            ok(s.created === sid, 'addItemToOrder: the new order line was created in the session', s);
            ok(await logged('write_insert', sid, 'public.order_line', newLine.id) === 1, 'addItemToOrder: write_insert of public.order_line logged');
            s = await stamps('public."order"', ids.orders.veronica);
            ok(s.changed === sid, "addItemToOrder: Veronica's order row (totals) changed in the session", s);
        } else ok(false, 'addItemToOrder: the new order line is in the order', order);
        await refusedRequest("OrderService.addItemToOrder(John's order) in Veronica's session",
            c => orders.addItemToOrder(c, ids.orders.john, ids.variants[0], 1),
            async () => ok(Number((await q1('SELECT count(*) AS n FROM order_line WHERE "orderId" = $1', [ids.orders.john])).n) === ids.orderLines.john.length
                && (await q1('SELECT quantity FROM order_line WHERE id = $1', [ids.orderLines.john[0]])).quantity === 3, "John's order lines are unchanged"));

        // 4. OrderService.adjustOrderLine
        if (newLine) {
            await goodRequest('OrderService.adjustOrderLine(Veronica\'s line)', c => orders.adjustOrderLine(c, ids.orders.veronica, newLine.id, 4));
            const row = await q1(`SELECT t.quantity, s.changed_session::text AS changed FROM order_line t ${stampJoin('public.order_line', 't')} WHERE t.id = $1`, [newLine.id]);
            ok(row.quantity === 4 && row.changed === sid, 'adjustOrderLine: quantity 4, stamped', row);
            ok(await logged('write_update', sid, 'public.order_line', newLine.id) >= 1, 'adjustOrderLine: write_update of public.order_line logged');
        }
        await refusedRequest("OrderService.adjustOrderLine(John's line) in Veronica's session",
            c => orders.adjustOrderLine(c, ids.orders.john, ids.orderLines.john[0], 9),
            async () => ok((await q1('SELECT quantity FROM order_line WHERE id = $1', [ids.orderLines.john[0]])).quantity === 3, "John's line still has quantity 3"));

        // 5. OrderService.removeItemFromOrder (Vendure unlinks the line, then deletes it)
        if (newLine) {
            await goodRequest('OrderService.removeItemFromOrder(Veronica\'s line)', c => orders.removeItemFromOrder(c, ids.orders.veronica, newLine.id));
            ok(!(await q1('SELECT 1 AS x FROM order_line WHERE id = $1', [newLine.id])), 'removeItemFromOrder: the line is gone');
            ok(await logged('write_delete', sid, 'public.order_line', newLine.id) === 1, 'removeItemFromOrder: write_delete of public.order_line logged with its key');
        }
        await refusedRequest("OrderService.removeItemFromOrder(John's line) in Veronica's session",
            c => orders.removeItemFromOrder(c, ids.orders.john, ids.orderLines.john[1]),
            async () => ok(!!(await q1('SELECT 1 AS x FROM order_line WHERE id = $1', [ids.orderLines.john[1]])), "John's line still exists"));

        // 6. credentials: the password (protected passwordHash), the login e-mail
        await refusedRequest("UserService.updatePassword(Veronica's own) in her session",
            c => users.updatePassword(c, ids.users.veronica, 'customer-secret', 'changed-by-assistant-1'));
        await refusedRequest("CustomerService.update(Veronica's own emailAddress) in her session",
            c => customers.update(c, { id: V, emailAddress: 'veronica.new@example.com' }));
        await refusedRequest("CustomerService.update(John's emailAddress) in Veronica's session",
            c => customers.update(c, { id: J, emailAddress: 'john.stolen@example.com' }),
            async () => {
                const row = await q1(`SELECT c."emailAddress" AS e, u.identifier AS i FROM customer c JOIN "user" u ON u.id = c."userId" WHERE c.id = $1`, [J]);
                ok(row.e === 'john@example.com' && row.i === 'john@example.com', "John's e-mail and login identifier are unchanged", row);
            });

        // 7. checkout: AddingItems -> ArrangingPayment, then a payment (the order is placed)
        await refusedRequest("OrderService.transitionToState(John's order, ArrangingPayment) in Veronica's session",
            c => orders.transitionToState(c, ids.orders.john, 'ArrangingPayment'),
            async () => ok((await q1('SELECT state FROM "order" WHERE id = $1', [ids.orders.john])).state === 'AddingItems', "John's order is still AddingItems"));
        await goodRequest("OrderService.transitionToState(Veronica's order, ArrangingPayment)",
            c => orders.transitionToState(c, ids.orders.veronica, 'ArrangingPayment'));
        await goodRequest("OrderService.addPaymentToOrder(Veronica's order)",
            c => orders.addPaymentToOrder(c, ids.orders.veronica, { method: 'dummy', metadata: {} }));
        const placed = await q1(`SELECT t.state, t.active, s.changed_session::text AS changed FROM "order" t ${stampJoin('public."order"', 't')} WHERE t.id = $1`, [ids.orders.veronica]);
        ok(placed.state === 'PaymentAuthorized' && placed.active === false && placed.changed === sid,
            'checkout: Veronica\'s order is placed (PaymentAuthorized), stamped', placed);
        const pay = await q1(`SELECT t.id, s.created_session::text AS created FROM payment t ${stampJoin('public.payment', 't')} WHERE t."orderId" = $1`, [ids.orders.veronica]);
        ok(pay && pay.created === sid, 'checkout: the payment row was created in the session', pay);
        ok(await logged('write_insert', sid, 'public.payment') === 1, 'checkout: write_insert of public.payment logged');

        ok(allUnassumed.length === 0, 'no write of any call ran outside a transaction that assumed the session', allUnassumed);

        // --- why one transaction per request: without it every save() is a transaction of
        //     its own (the hook assumes in each), and Vendure's insert-then-link commits an
        //     address that belongs to no customer yet — which a session may not leave behind
        try {
            await loginasContext.run(key, () => customers.createAddress(ctx, V, {
                fullName: 'Veronica Costello', streetLine1: '3 Side Street', city: 'York', postalCode: 'YO1 1AA', countryCode: 'GB' }));
            ok(false, 'without withTransaction(): createAddress is refused (its INSERT commits an unlinked address)', 'it committed');
        } catch (e) {
            ok(sqlstate(e) === '42501' && /address/.test(e.message),
                'without withTransaction(): createAddress is refused (42501: its INSERT commits alone, an address of no customer)', e);
        }

        // --- the same session through Vendure's shop API over HTTP: the key travels from
        //     the request (bearer token -> key, middleware -> AsyncLocalStorage) to the
        //     transactions of Vendure's @Transaction() resolvers
        const port = app.getHttpServer().address().port;
        const gql = async (query, token) => {
            const res = await fetch(`http://127.0.0.1:${port}/shop-api`, {
                method: 'POST',
                headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
                body: JSON.stringify({ query }),
            });
            return { body: await res.json(), token: res.headers.get('vendure-auth-token') };
        };
        try {
            // (the test logs in with Veronica's password to get a Vendure session; a shop would
            // create it from the redeemed ticket, e.g. with an AuthenticationStrategy)
            const login = await gql('mutation { login(username: "veronica@example.com", password: "customer-secret") { __typename } }');
            ok(login.token && login.body.data.login.__typename === 'CurrentUser', 'shop API: a Vendure session for Veronica', login.body);
            loginasKeys.set(login.token, key);
            const upd = await gql('mutation { updateCustomer(input: { phoneNumber: "+44 20 7946 0042" }) { id phoneNumber } }', login.token);
            s = await q1(`SELECT t."phoneNumber" AS p, s.changed_session::text AS changed, s.changed_at FROM customer t ${stampJoin('public.customer', 't')} WHERE t.id = $1`, [V]);
            const stampedAt = s.changed_at, updates = await logged('write_update', sid, 'public.customer', V);
            ok(!upd.body.errors && s.p === '+44 20 7946 0042' && s.changed === sid,
                'shop API updateCustomer: committed in the session (customer row stamped)', { body: upd.body, row: s });
            const add = await gql(`mutation { addItemToOrder(productVariantId: ${ids.variants[1]}, quantity: 1) { __typename ... on Order { id code } } }`, login.token);
            const newOrder = add.body.data && add.body.data.addItemToOrder;
            const row = newOrder && newOrder.id && await q1(`SELECT t."customerId" AS c, s.created_session::text AS created FROM "order" t ${stampJoin('public."order"', 't')} WHERE t.id = $1`, [newOrder.id]);
            ok(row && String(row.c) === String(V) && row.created === sid,
                "shop API addItemToOrder: Veronica's new active order was created in the session", { body: add.body, row });
            ok(newOrder && await logged('write_insert', sid, 'public."order"', newOrder.id) === 1, 'shop API addItemToOrder: write_insert of public."order" logged');
            // the same HTTP request without the key mapping writes outside any session
            loginasKeys.delete(login.token);
            await gql('mutation { updateCustomer(input: { phoneNumber: "+44 20 7946 0043" }) { id } }', login.token);
            // (stamps => 'table': a write outside a session leaves the stamps, which name the
            // last session that wrote the row; neither they nor the log take the write)
            s = await q1(`SELECT t."phoneNumber" AS p, s.changed_session::text AS changed, s.changed_at FROM customer t ${stampJoin('public.customer', 't')} WHERE t.id = $1`, [V]);
            ok(s.p === '+44 20 7946 0043' && s.changed === sid && s.changed_at.getTime() === stampedAt.getTime()
                && await logged('write_update', sid, 'public.customer', V) === updates,
                "shop API: Veronica's own request (no loginas key for her Vendure session) is no session's (stamp and log unchanged)", s);
        } catch (e) {
            ok(false, "Vendure's shop API over HTTP in the session", e);
        }

        // --- the durable refusal log ------------------------------------------------------
        await refusalsLogged(sid, refusals.n,
            `the ${refusals.n} refused requests are in the action log as write_refused failure rows (session, admin, customer, role)`);

        // --- the reports ------------------------------------------------------------
        const hist = (await reports.query(
            `SELECT "Admin" AS admin, "Action" AS action, "Session"::text AS session, "Table" AS tbl, "Keys" AS keys
               FROM loginas.customer_history($1)`, [V])).rows;
        const tables = new Set(hist.filter(h => h.session === sid && h.admin === 'ada@shop.test').map(h => h.tbl));
        const want = ['public.customer', 'public.address', 'public.order_line', 'public."order"', 'public.history_entry', 'public.payment'];
        ok(want.every(t => tables.has(t)), `customer_history(Veronica) shows ada's writes in session ${sid}: ${want.join(', ')}`,
            [...tables].join(', '));
        ok(hist.some(h => /ticket issued/.test(h.action) && h.session === sid), 'customer_history(Veronica) shows the ticket ada issued');
        const forJohn = (await reports.query(`SELECT count(*) AS n FROM loginas.customer_history($1) WHERE "Session" = $2`, [J, sid])).rows[0];
        ok(Number(forJohn.n) === 0, "customer_history(John) shows no write of Veronica's session", forJohn);

        // --- logout: the next request's assume fails, the pool connection is given back
        await connection.rawConnection.query('SELECT loginas.end($1)', [key]);
        try {
            await request(c => customers.update(c, { id: V, phoneNumber: '+44 20 7946 0002' }));
            ok(false, 'after loginas.end(): the next request is refused');
        } catch (e) {
            ok(e instanceof LoginasSessionEnded && e.sqlstate === '28000',
                'after loginas.end(): the next request fails in the hook with LoginasSessionEnded (28000): log the visitor out', e);
        }
        ok(pool && pool.totalCount - pool.idleCount === 0, 'no pool connection is left checked out after the refused assume',
            pool && { total: pool.totalCount, idle: pool.idleCount });

        // --- outside any session, the same code writes John's rows as always ----------
        const plain = await makeCtx(app, { apiType: 'admin', userId: 1 });
        await connection.withTransaction(plain, c => customers.update(c, { id: J, phoneNumber: '+44 20 7946 0003' }));
        s = await stamps('public.customer', J);
        ok(s.changed === null, 'outside a session Vendure updates John as always (no stamp)', s);
    } finally {
        await app.close().catch(() => {});
        if (!oneRole) await backend.end();
        await su.end();
        await reports.end();
    }
}

main().then(() => process.exit(failures ? 1 : 0), err => {
    console.log(`not ok - drive.js stopped: ${String(err && err.stack || err).split('\n').slice(0, 6).join(' | ')}`);
    process.exit(1);
});
