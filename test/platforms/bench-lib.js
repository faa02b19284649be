// test/platforms/bench-lib.js — the worker side of `make bench-platforms`
// (test/platforms/bench.sh): the line protocol between a platform's bench worker
// (test/platforms/vendure/bench.js, test/platforms/medusa/bench.js: one long-lived
// process per variant, the platform booted once) and the coordinator
// (test/platforms/bench-coordinate.js).
//
// The coordinator writes one JSON command per line on the worker's stdin:
//   {"cmd":"run","measure":"...","calls":N,"warmup":W}   run W untimed calls, then N timed
//                                                       ones; answer with their times
//   {"cmd":"quit"}                                       clean up and exit
// The worker answers on stdout with lines starting "BENCH " and a JSON object:
//   BENCH {"ready":true,...}      after its setup (the platform booted, the session redeemed)
//   BENCH {"result":{...}}        one per run: per-call times (ms), SQL statements and
//                                 transactions per call, the run's check
//   BENCH {"error":"..."}         a failure: the worker exits non-zero after it
// Everything else on stdout (the platform's own logging) is ignored by the coordinator.
'use strict';
const readline = require('node:readline');

function say(obj) {
    process.stdout.write(`BENCH ${JSON.stringify(obj)}\n`);
}

const ms = ns => Number(ns) / 1e6;

// --- where a call's time goes: every query the platform sends, timed on the client -------------
// Every loaded copy of node-postgres' Client (a platform may carry more than one: Medusa's
// MikroORM has its own) gets its query() wrapped: while a timed call runs, the time from
// sending a query to its answer is added to its kind (the SQL's first word; loginas.assume()
// on its own).  Queries of one call that overlap (Promise.all) add up beyond the call's time.
const sql = { on: false, ns: {} };
function kindOf(text) {
    if (typeof text !== 'string') return 'other';
    if (/loginas\.assume\b/.test(text)) return 'assume';
    const m = /^\s*(\w+)/.exec(text);
    const w = m ? m[1].toUpperCase() : '';
    if (w === 'START' || w === 'BEGIN') return 'begin';
    if (w === 'COMMIT') return 'commit';
    if (w === 'INSERT' || w === 'UPDATE' || w === 'DELETE') return 'write';
    if (w === 'SELECT' || w === 'WITH') return 'select';
    return 'other';
}
function timeQueries() {
    let n = 0;
    for (const [file, mod] of Object.entries(require.cache)) {
        if (!/[\\/]node_modules[\\/]pg[\\/]lib[\\/]client\.js$/.test(file)) continue;
        const proto = mod.exports && mod.exports.prototype;
        if (!proto || proto.__benchTimed) continue;
        const orig = proto.query;
        proto.query = function (...args) {
            if (!sql.on) return orig.apply(this, args);
            const first = args[0];
            const kind = kindOf(typeof first === 'string' ? first : first && first.text);
            const t0 = process.hrtime.bigint();
            const add = () => { sql.ns[kind] = (sql.ns[kind] || 0n) + (process.hrtime.bigint() - t0); };
            const cb = args.findIndex(a => typeof a === 'function');
            if (cb >= 0) {
                const f = args[cb];
                args[cb] = function (...r) { add(); return f.apply(this, r); };
                return orig.apply(this, args);
            }
            const res = orig.apply(this, args);
            if (res && typeof res.then === 'function') return res.then(x => { add(); return x; }, e => { add(); throw e; });
            return res;
        };
        proto.__benchTimed = true;
        n++;
    }
    return n;
}

// serve({ ready, run, quit }): ready() -> object sent with the ready line; run(cmd) ->
// { times, stmts, txns, assume, check: { ok, detail } }; quit() -> cleanup.
async function serve({ ready, run, quit }) {
    let info;
    try {
        info = await ready();
    } catch (e) {
        say({ error: `setup: ${String(e && e.stack || e).split('\n').slice(0, 8).join(' | ')}` });
        return 1;
    }
    say({ ready: true, ...info });
    const lines = readline.createInterface({ input: process.stdin, terminal: false });
    for await (const line of lines) {
        if (!line.trim()) continue;
        let cmd;
        try {
            cmd = JSON.parse(line);
        } catch (e) {
            say({ error: `not a command: ${line}` });
            continue;
        }
        if (cmd.cmd === 'quit') break;
        if (cmd.cmd !== 'run') {
            say({ error: `unknown command ${cmd.cmd}` });
            continue;
        }
        try {
            const result = await run(cmd);
            say({ result: { measure: cmd.measure, ...result } });
            if (!result.check.ok) break;     // a variant that did not do its job stops the bench
        } catch (e) {
            say({ error: `${cmd.measure}: ${String(e && e.stack || e).split('\n').slice(0, 8).join(' | ')}` });
            break;
        }
    }
    lines.close();
    try {
        await quit();
    } catch (_) { /* the coordinator has what it needs */ }
    return 0;
}

// Runs `calls` calls of one measure in groups of `group` calls: before each group,
// prepare() (untimed: a fresh order or cart); each call is call(i, target) ->
// { stmts, txns, assumeNs }, timed with process.hrtime.bigint() around it.
async function timedCalls({ calls, group, prepare, call }) {
    const times = [], stmts = [], txns = [], assume = [], targets = [], sqlms = [];
    let target;
    for (let i = 0; i < calls; i++) {
        if (i % group === 0) {
            target = await prepare();
            targets.push(target);
        }
        sql.ns = {};
        sql.on = true;
        const t0 = process.hrtime.bigint();
        let r;
        try {
            r = await call(i % group, target);
        } finally {
            sql.on = false;
        }
        const t1 = process.hrtime.bigint();
        times.push(ms(t1 - t0));
        sqlms.push(Object.fromEntries(Object.entries(sql.ns).map(([k, v]) => [k, ms(v)])));
        stmts.push(r.stmts);
        txns.push(r.txns);
        assume.push(r.assumeNs === undefined ? null : ms(r.assumeNs));
    }
    return { times, stmts, txns, assume, targets, sql: sqlms };
}

// calls rounded up to whole groups
const wholeGroups = (n, group) => Math.ceil(Math.max(n, 0) / group) * group;

module.exports = { say, serve, timedCalls, wholeGroups, ms, timeQueries };
