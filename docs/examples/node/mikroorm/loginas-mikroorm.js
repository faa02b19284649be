// docs/examples/node/mikroorm/loginas-mikroorm.js — the code a Node shop on MikroORM 6 (Medusa
// 2.x, or any MikroORM application on PostgreSQL) adds so that every transaction of an
// impersonated request starts with `SELECT loginas.assume($1)`.  The MikroORM counterpart of
// docs/examples/node/typeorm/loginas-typeorm.js.
//
//   const { loginasContext, loginasSubscriber, registerOn, attachToMedusa } = require('./loginas-mikroorm');
//   // plain MikroORM: MikroORM.init({ ..., subscribers: [loginasSubscriber] })
//   //   or, on an existing instance: registerOn(orm.em)
//   // Medusa 2.x (one MikroORM instance per module): attachToMedusa(MedusaModule)
//   // per request whose storefront session is a Login as Customer session:
//   loginasContext.run(sessionKey, () => handleRequest());
//
// How it works: MikroORM dispatches `afterTransactionStart` to its subscribers once a
// top-level transaction has begun (not for a nested one: that is a savepoint of a transaction
// that already assumed), with `args.transaction` — the knex transaction — and `args.em`, the
// entity manager fork that runs it.  The subscriber sends `SELECT loginas.assume(?)` on that
// knex transaction, so it is the first statement after BEGIN on the transaction's own pooled
// connection.  It uses the knex transaction directly, not `em.execute()`: MikroORM's query
// logger (Medusa turns it on when NODE_ENV starts with "dev") prints bind parameters inline,
// the session key with them.
//
// What it does not cover: a write that MikroORM runs OUTSIDE a transaction — `em.nativeUpdate`,
// `em.nativeDelete`, `em.insert`, `qb.execute()` or `em.execute()` on an entity manager that is
// not a transaction's fork, and any plain knex query — runs in autocommit: no transaction
// start, no assume, outside the session (not contained, not stamped, not logged).
// auditKnex(knex) lists them per request (loginasContext.unassumedWrites()).
'use strict';
const { AsyncLocalStorage } = require('node:async_hooks');

const storage = new AsyncLocalStorage();
// For the audit: the pooled connections (knex's __knexUid) now inside a transaction that
// assumed a session, and the connection each such knex transaction runs on.  A connection in a
// transaction serves that transaction only (savepoints included), so every query on it is the
// transaction's.
const assumedConnections = new Map();   // __knexUid -> session id
const connectionOf = new WeakMap();     // knex transaction -> __knexUid

const loginasContext = {
    // Runs fn with the Login as Customer session key as the request's context.
    run(sessionKey, fn) {
        if (typeof sessionKey !== 'string' || !/^[0-9a-f]{64}$/.test(sessionKey)) {
            throw new TypeError('loginasContext.run: a session key is 64 hex digits');
        }
        return storage.run({ sessionKey, sessionId: null, assumedTransactions: 0, unassumedWrites: [] }, fn);
    },
    // The request's context (undefined outside an impersonated request).
    get() {
        return storage.getStore();
    },
    // Writes of this request seen outside a transaction that assumed the session (auditKnex).
    unassumedWrites() {
        const s = storage.getStore();
        return s ? s.unassumedWrites : [];
    },
};

// Raised when assume() refuses: the Login as Customer session is over (28000: ended or
// unknown; 42501: permission or consent revoked; 55000: feature disabled, customer
// inactive, ...).  The storefront must log the visitor out.
class LoginasSessionEnded extends Error {
    constructor(cause) {
        super(`Login as Customer session has ended: ${cause && cause.message}`);
        this.name = 'LoginasSessionEnded';
        this.code = cause && cause.code;     // the SQLSTATE, as pg reports it
        this.sqlstate = this.code;
        this.cause = cause;
    }
}

// The MikroORM subscriber.  A plain object: MikroORM calls the EventSubscriber methods it
// finds; with no getSubscribedEntities() it receives every event (it only implements the
// transaction ones).
const loginasSubscriber = {
    async afterTransactionStart(args) {
        const ctx = storage.getStore();
        const trx = args && args.transaction;
        if (!ctx || !trx) return;
        try {
            // a bind parameter: the key never appears in the SQL text (server log, pg_stat_activity)
            const query = trx.raw('SELECT loginas.assume(?) AS session_id', [ctx.sessionKey]);
            let uid;
            query.on('query', data => { uid = data.__knexUid; });
            const res = await query;
            const sessionId = String(res.rows[0].session_id);
            if (uid !== undefined) {
                assumedConnections.set(uid, sessionId);
                connectionOf.set(trx, uid);
            }
            ctx.sessionId = sessionId;
            ctx.assumedTransactions++;
        } catch (err) {
            // The transaction is aborted.  MikroORM's Connection.transactional() begins its
            // transaction before its try/catch: nobody else rolls this one back or gives its
            // connection back to the pool.  knex's rollback does both (and, for a transaction
            // begun without a handler, does not reject: doNotRejectOnRollback).
            try { await trx.rollback(); } catch (_) { /* already gone */ }
            throw new LoginasSessionEnded(err);
        }
    },
    // before, not after: after COMMIT the connection is back in the pool, someone else's
    beforeTransactionCommit(args) { ended(args); },
    beforeTransactionRollback(args) { ended(args); },
};
function ended(args) {
    const trx = args && args.transaction;
    const uid = trx && connectionOf.get(trx);
    if (uid !== undefined) {
        assumedConnections.delete(uid);
        connectionOf.delete(trx);
    }
}

// Registers the subscriber on MikroORM entity managers (each registration once: forks made
// afterwards copy it; a fork that exists already keeps the subscribers it had).
const registered = new WeakSet();
function registerOn(...ems) {
    let n = 0;
    for (const em of ems) {
        const events = em && em.getEventManager && em.getEventManager();
        if (!events || registered.has(events)) continue;
        events.registerSubscriber(loginasSubscriber);
        registered.add(events);
        n++;
    }
    return n;
}

// Medusa 2.x: every module (customer, cart, order, the link modules, ...) has its own
// MikroORM instance; all of them share one knex pool.  Registers the subscriber on the entity
// manager of every loaded module and returns { managers, knex }.  Call it once, after Medusa
// has loaded its modules and before the first request (MedusaModule from
// '@medusajs/framework/modules-sdk').
function attachToMedusa(MedusaModule) {
    const ems = new Set();
    for (const loaded of MedusaModule.getLoadedModules()) {
        for (const service of Object.values(loaded)) {
            const em = service && service.baseRepository_ && service.baseRepository_.manager_;
            if (em && typeof em.getEventManager === 'function') ems.add(em);
        }
    }
    registerOn(...ems);
    const knexes = new Set([...ems].map(em => em.getConnection().getKnex()));
    return { managers: ems.size, knex: knexes.size === 1 ? [...knexes][0] : [...knexes] };
}

// Notes, per impersonated request, every write sent through this knex instance outside a
// transaction that assumed the session: in autocommit, or in a transaction whose start
// MikroORM did not announce (e.g. a plain knex.transaction()).  Savepoints of an assumed
// transaction run on its connection and count as assumed.  Never records bind parameters (it
// keeps the statement's first 160 characters: MikroORM inlines values into the SQL it
// sends, so the list holds the shop's data; keep it out of shared logs).
function auditKnex(knex) {
    knex.on('query', data => {
        const ctx = storage.getStore();
        if (!ctx || !/^\s*(INSERT|UPDATE|DELETE|MERGE|COPY)\b/i.test(data.sql || '')) return;
        if (assumedConnections.has(data.__knexUid)) return;
        const where = data.__knexTxId === undefined ? 'autocommit' : `transaction ${data.__knexTxId}`;
        ctx.unassumedWrites.push(`${where}: ${data.sql.replace(/\s+/g, ' ').slice(0, 160)}`);
    });
    return knex;
}

// Express middleware (Medusa: a middleware on the /store routes in src/api/middlewares.ts).
// lookupKey(req) returns the loginas session key the storefront stored with the visitor's own
// session (server side), or nothing for an ordinary visitor.
function loginasMiddleware(lookupKey) {
    return (req, res, next) => {
        Promise.resolve(lookupKey(req)).then(key => {
            if (!key) return next();
            loginasContext.run(key, () => next());
        }, next);
    };
}

module.exports = { loginasContext, loginasSubscriber, registerOn, attachToMedusa, auditKnex, LoginasSessionEnded, loginasMiddleware };
