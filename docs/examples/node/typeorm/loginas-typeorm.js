// docs/examples/node/typeorm/loginas-typeorm.js — the code a Node shop on TypeORM (Vendure,
// or any TypeORM application on PostgreSQL) adds so that every transaction of an
// impersonated request starts with `SELECT loginas.assume($1)`.
//
//   const { loginasContext, LoginasSubscriber, LoginasAuditLogger } = require('./loginas-typeorm');
//   // TypeORM / Vendure: dbConnectionOptions.subscribers = [LoginasSubscriber]
//   // per request whose storefront session is a Login as Customer session:
//   loginasContext.run(sessionKey, () => handleRequest());
//
// How the session key travels: the storefront keeps it on the server, with its own session
// (never in a cookie, a URL or a page): the request brings its session cookie or bearer
// token, a middleware looks the loginas session key up from it and runs the rest of the
// request inside AsyncLocalStorage (loginasContext.run), and every TypeORM transaction
// started anywhere below — in whichever service, on whichever pooled connection — gets
// `SELECT loginas.assume($1)` as its first statement, from LoginasSubscriber.
//
// The subscriber acts on transactions only.  A write that TypeORM runs outside a transaction
// (QueryBuilder .update()/.insert()/.delete().execute(), repository.update()/insert()/
// delete(), manager.query(), on a repository not bound to a transaction) runs in autocommit
// and therefore OUTSIDE the session: not contained, not stamped, not logged.  Run each
// impersonated request in one transaction (Vendure: connection.withTransaction(ctx, ...),
// which is what its @Transaction() decorator on every mutation resolver does), and use
// LoginasAuditLogger to find writes that escape it.
'use strict';
const { AsyncLocalStorage } = require('node:async_hooks');
const { EventSubscriber } = require('typeorm');     // the application's own TypeORM (Vendure's)

const storage = new AsyncLocalStorage();
// per TypeORM QueryRunner: the session its open transaction assumed.  (Not queryRunner.data:
// TypeORM's save() swaps that object for the duration of a save.)
const assumed = new WeakMap();

const loginasContext = {
    // Runs fn with the Login as Customer session key as the request's context.
    run(sessionKey, fn) {
        if (typeof sessionKey !== 'string' || !/^[0-9a-f]{64}$/.test(sessionKey)) {
            throw new TypeError('loginasContext.run: a session key is 64 hex digits');
        }
        return storage.run({ sessionKey, sessionId: null, unassumedWrites: [] }, fn);
    },
    // The request's context (undefined outside an impersonated request).
    get() {
        return storage.getStore();
    },
    // Writes of this request that ran outside a transaction that assumed the session
    // (filled by LoginasAuditLogger).
    unassumedWrites() {
        const s = storage.getStore();
        return s ? s.unassumedWrites : [];
    },
    // The session id the transaction of this query runner acts in, or undefined.
    sessionOf(queryRunner) {
        return assumed.get(queryRunner);
    },
};

// Raised when assume() refuses: the Login as Customer session is over (28000: ended or
// unknown; 42501: permission or consent revoked; 55000: feature disabled, customer
// inactive, ...).  The storefront must log the visitor out.
class LoginasSessionEnded extends Error {
    constructor(cause) {
        super(`Login as Customer session has ended: ${cause.message}`);
        this.name = 'LoginasSessionEnded';
        this.code = cause.code;          // the SQLSTATE, as TypeORM's QueryFailedError has it
        this.sqlstate = cause.code;
        this.cause = cause;
    }
}

// TypeORM subscriber (Vendure: dbConnectionOptions.subscribers).  A class registered with
// @EventSubscriber(): TypeORM instantiates only registered subscriber classes, and ignores
// any other class it is given, silently.
class LoginasSubscriber {
    async afterTransactionStart(event) {
        const ctx = storage.getStore();
        const qr = event.queryRunner;
        if (!ctx || !qr) return;
        // a nested transaction is a savepoint of one that already assumed
        if (qr.transactionDepth !== undefined && qr.transactionDepth > 1) return;
        try {
            // a bind parameter: the key never appears in the SQL text (server log, pg_stat_activity)
            const rows = await qr.query('SELECT loginas.assume($1) AS session_id', [ctx.sessionKey]);
            const sessionId = String(rows[0].session_id);
            assumed.set(qr, sessionId);
            ctx.sessionId = sessionId;
        } catch (err) {
            // The transaction is aborted.  Roll it back and give the connection back to the
            // pool here: Vendure's TransactionWrapper starts its transaction outside its
            // try/finally, so nobody else would release this query runner.
            try { await qr.rollbackTransaction(); } catch (_) { /* already gone */ }
            try { await qr.release(); } catch (_) { /* already released */ }
            throw new LoginasSessionEnded(err);
        }
    }
    afterTransactionCommit(event) { this.ended(event.queryRunner); }
    afterTransactionRollback(event) { this.ended(event.queryRunner); }
    ended(qr) {
        if (qr && !qr.isTransactionActive) assumed.delete(qr);
    }
}

// A TypeORM logger (Vendure: dbConnectionOptions.logger) that notes every write made in an
// impersonated request outside a transaction that assumed its session, and hides the
// session key from whatever logger it wraps.
class LoginasAuditLogger {
    constructor(inner) { this.inner = inner; }
    logQuery(query, parameters, queryRunner) {
        const ctx = storage.getStore();
        if (ctx && /^\s*(INSERT|UPDATE|DELETE|MERGE|COPY)\b/i.test(query) &&
            !(queryRunner && queryRunner.isTransactionActive && assumed.has(queryRunner))) {
            ctx.unassumedWrites.push(query.replace(/\s+/g, ' ').slice(0, 200));
        }
        if (this.inner && this.inner.logQuery) this.inner.logQuery(query, redact(query, parameters), queryRunner);
    }
    logQueryError(error, query, parameters, queryRunner) {
        if (this.inner && this.inner.logQueryError) this.inner.logQueryError(error, query, redact(query, parameters), queryRunner);
    }
    logQuerySlow(time, query, parameters, queryRunner) {
        if (this.inner && this.inner.logQuerySlow) this.inner.logQuerySlow(time, query, redact(query, parameters), queryRunner);
    }
    logSchemaBuild(message, queryRunner) { if (this.inner && this.inner.logSchemaBuild) this.inner.logSchemaBuild(message, queryRunner); }
    logMigration(message, queryRunner) { if (this.inner && this.inner.logMigration) this.inner.logMigration(message, queryRunner); }
    log(level, message, queryRunner) { if (this.inner && this.inner.log) this.inner.log(level, message, queryRunner); }
}

EventSubscriber()(LoginasSubscriber);      // the decorator, applied without TypeScript

function redact(query, parameters) {
    return /loginas\.(assume|redeem|end)\b/.test(query) && parameters ? parameters.map(() => '<secret>') : parameters;
}

// Express middleware (Vendure: apiOptions.middleware on the shop API route).  lookupKey(req)
// returns the loginas session key the storefront stored with the visitor's own session
// (server side), or nothing for an ordinary visitor.
function loginasMiddleware(lookupKey) {
    return (req, res, next) => {
        Promise.resolve(lookupKey(req)).then(key => {
            if (!key) return next();
            loginasContext.run(key, () => next());
        }, next);
    };
}

module.exports = { loginasContext, LoginasSubscriber, LoginasAuditLogger, LoginasSessionEnded, loginasMiddleware };
