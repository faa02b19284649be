// test/platforms/bench-coordinate.js — the coordinator of `make bench-platforms`
// (test/platforms/bench.sh).
//
//   node bench-coordinate.js run PLATFORM OUT.json     (environment below)
//   node bench-coordinate.js report OUT.json...        the markdown tables, on stdout
//
// run: starts the platform's three bench workers (one process per variant, each booted once
// against its own database: <prefix>_plain, <prefix>_installed, <prefix>_session), waits
// until all are ready, then for every round and every measure asks each variant for
// BENCH_WARMUP untimed and BENCH_CALLS timed calls, the variants in an order rotated from
// round to round (abc, bca, cab, ...), one variant at a time; writes every per-call time to
// OUT.json.  A worker that fails, or whose run's check fails, fails the bench (exit 1).
//   BENCH_ROUNDS, BENCH_CALLS, BENCH_WARMUP       the sizes
//   Vendure: VENDURE_IDS (seed.js's ids), PGHOST/PGPORT, VENDURE_* roles; NODE_PATH
//   Medusa:  MEDUSA_BIN (the `medusa` wrapper of bench.sh), MEDUSA_IDS, PGHOST/PGPORT, MEDUSA_* roles
//
// report: for each measure, the ratio of each variant to "plain" is taken within a round (the
// per-call mean of the variant's run / that of plain's run in the same round); the median
// over the rounds and its range are reported, against the targets (installed, no session
// <= 1.05x; in a session <= 1.25x).  A second table gives the per-call times and what a
// call sends: SQL statements and transactions per call, and in a session the time the hook
// spends in SELECT loginas.assume($1) (its round trip).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');

const VARIANTS = ['plain', 'installed', 'session'];
const VARIANT_NAMES = {
    plain: 'without loginas',
    installed: 'loginas installed, recipe applied, no session',
    session: 'in a Login as Customer session',
};
const TARGETS = { installed: 1.05, session: 1.25 };
const PLATFORMS = {
    vendure: {
        name: 'Vendure',
        measures: [{ id: 'addItemToOrder', label: 'OrderService.addItemToOrder (one transaction, @Transaction())', targeted: true }],
        worker: variant => ({
            cmd: process.execPath,
            args: [path.join(__dirname, 'vendure', 'bench.js'), need('VENDURE_IDS'), variant],
            env: { PGDATABASE: `vendure_${variant}` },
            cwd: path.join(__dirname, 'vendure'),
        }),
    },
    medusa: {
        name: 'Medusa',
        measures: [
            { id: 'addToCartWorkflow', label: 'addToCartWorkflow (POST /store/carts/:id/line-items)', targeted: true },
            // a call of ~3 ms: ten times as many calls per run, so that a run lasts as long as the others
            { id: 'addLineItems', label: 'cartModule.addLineItems (the cart module\'s call)', targeted: true, scale: 10 },
        ],
        worker: variant => ({
            cmd: need('MEDUSA_BIN'),
            args: ['exec', path.join(__dirname, 'medusa', 'bench.js')],
            env: { PGDATABASE: `medusa_${variant}`, DATABASE_URL: `postgres:///medusa_${variant}?sslmode=disable`, MEDUSA_BENCH_VARIANT: variant },
        }),
    },
};

function need(name) {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set`);
    return v;
}
const int = (name, dflt) => {
    const v = process.env[name] === undefined ? dflt : Number(process.env[name]);
    if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a whole number`);
    return v;
};
const log = msg => process.stderr.write(`# ${msg}\n`);

// A worker: its process and a queue of its BENCH lines.
function startWorker(platform, variant, logDir) {
    const spec = PLATFORMS[platform].worker(variant);
    const child = spawn(spec.cmd, spec.args, {
        cwd: spec.cwd, env: { ...process.env, ...spec.env }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    const logFile = fs.createWriteStream(path.join(logDir, `${platform}-${variant}.log`));
    child.stderr.pipe(logFile);
    const waiting = [], queued = [];
    let exited = null;
    readline.createInterface({ input: child.stdout }).on('line', line => {
        if (!line.startsWith('BENCH ')) {
            logFile.write(`${line}\n`);
            return;
        }
        const msg = JSON.parse(line.slice(6));
        if (waiting.length) waiting.shift().resolve(msg); else queued.push(msg);
    });
    child.on('exit', (code, signal) => {
        exited = `exited (${signal || code})`;
        while (waiting.length) waiting.shift().reject(new Error(`${platform} ${variant} worker ${exited}; see ${logDir}/${platform}-${variant}.log`));
    });
    const next = () => new Promise((resolve, reject) => {
        if (queued.length) return resolve(queued.shift());
        if (exited) return reject(new Error(`${platform} ${variant} worker ${exited}; see ${logDir}/${platform}-${variant}.log`));
        waiting.push({ resolve, reject });
    });
    const send = obj => child.stdin.write(`${JSON.stringify(obj)}\n`);
    const done = new Promise(resolve => child.on('exit', code => resolve(code)));
    return { variant, child, next, send, done };
}

async function expect(worker, what) {
    const msg = await worker.next();
    if (msg.error) throw new Error(`${worker.variant}: ${msg.error}`);
    if (!msg[what]) throw new Error(`${worker.variant}: expected ${what}, got ${JSON.stringify(msg)}`);
    return msg;
}

async function run(platform, out) {
    const p = PLATFORMS[platform];
    if (!p) throw new Error(`unknown platform ${platform}`);
    const rounds = int('BENCH_ROUNDS', 7), calls = int('BENCH_CALLS', 40), warmup = int('BENCH_WARMUP', 8);
    const logDir = path.dirname(path.resolve(out));
    const t0 = Date.now();
    const workers = VARIANTS.map(v => startWorker(platform, v, logDir));
    const result = { platform, name: p.name, rounds, calls, warmup, measures: p.measures, ready: {}, runs: [] };
    let failed = null;
    try {
        for (const w of workers) result.ready[w.variant] = await expect(w, 'ready');
        log(`${p.name}: three workers ready (${((Date.now() - t0) / 1000).toFixed(0)} s): ${VARIANTS.map(v => `${v} on ${result.ready[v].database}`).join(', ')}`);
        // a first warm-up of every measure in every worker (the platform's code paths, the
        // connection pool, PostgreSQL's caches), not recorded
        for (const m of p.measures) {
            for (const w of workers) {
                w.send({ cmd: 'run', measure: m.id, calls: Math.max(warmup, 4) * (m.scale || 1), warmup: 0 });
                const msg = await expect(w, 'result');
                if (!msg.result.check.ok) throw new Error(`${p.name} ${w.variant} ${m.id} (warm-up): ${msg.result.check.detail}`);
            }
        }
        for (let r = 0; r < rounds; r++) {
            for (const [mi, m] of p.measures.entries()) {
                const order = VARIANTS.map((_, i) => VARIANTS[(i + r + mi) % VARIANTS.length]);
                for (const v of order) {
                    const w = workers.find(x => x.variant === v);
                    w.send({ cmd: 'run', measure: m.id, calls: calls * (m.scale || 1), warmup: warmup * (m.scale || 1) });
                    const { result: res } = await expect(w, 'result');
                    if (!res.check.ok) throw new Error(`${p.name} ${v} ${m.id}, round ${r + 1}: ${res.check.detail}`);
                    result.runs.push({ round: r, measure: m.id, variant: v, position: order.indexOf(v), ...res });
                }
                const means = Object.fromEntries(result.runs.filter(x => x.round === r && x.measure === m.id)
                    .map(x => [x.variant, mean(x.times)]));
                log(`${p.name} round ${r + 1}/${rounds} ${m.id} (${order.join(' ')}): ` +
                    VARIANTS.map(v => `${v} ${means[v].toFixed(2)} ms`).join(', ') +
                    `; installed/plain ${(means.installed / means.plain).toFixed(3)}, session/plain ${(means.session / means.plain).toFixed(3)}`);
            }
        }
        result.checks = Object.fromEntries(VARIANTS.map(v => [v, result.runs.filter(x => x.variant === v).at(-1).check.detail]));
    } catch (e) {
        failed = e;
    }
    for (const w of workers) {
        if (w.child.exitCode === null) w.send({ cmd: 'quit' });
    }
    const timer = setTimeout(() => workers.forEach(w => w.child.exitCode === null && w.child.kill('SIGTERM')), 30000);
    await Promise.all(workers.map(w => w.done));
    clearTimeout(timer);
    result.seconds = Math.round((Date.now() - t0) / 1000);
    if (failed) throw failed;
    fs.writeFileSync(out, JSON.stringify(result));
    log(`${p.name}: ${rounds} rounds done in ${result.seconds} s`);
}

// --- statistics and the report --------------------------------------------------------------
const mean = a => a.reduce((s, x) => s + x, 0) / a.length;
function median(a) {
    const s = [...a].sort((x, y) => x - y), n = s.length;
    return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}
const fx = (x, d = 2) => Number.isFinite(x) ? x.toFixed(d) : '—';

function report(files) {
    const lines = [];
    const ratioRows = [], timeRows = [], sqlRows = [];
    const KINDS = ['begin', 'assume', 'select', 'write', 'commit', 'other'];
    for (const f of files) {
        const res = JSON.parse(fs.readFileSync(f, 'utf8'));
        for (const m of res.measures) {
            const runs = res.runs.filter(x => x.measure === m.id);
            const byRound = r => Object.fromEntries(runs.filter(x => x.round === r).map(x => [x.variant, x]));
            for (const v of ['installed', 'session']) {
                const ratios = [];
                for (let r = 0; r < res.rounds; r++) {
                    const b = byRound(r);
                    if (b[v] && b.plain) ratios.push(mean(b[v].times) / mean(b.plain.times));
                }
                const med = median(ratios);
                ratioRows.push(`| ${res.name} ${m.label}: ${VARIANT_NAMES[v]} vs without loginas | ` +
                    `${m.targeted ? `≤ ${fx(TARGETS[v])}×` : '(information)'} | ${fx(med)}× | ` +
                    `${m.targeted ? (med <= TARGETS[v] ? 'yes' : '**no**') : '—'} | ${fx(Math.min(...ratios))}–${fx(Math.max(...ratios))} |`);
            }
            for (const v of VARIANTS) {
                const vr = runs.filter(x => x.variant === v);
                const means = vr.map(x => mean(x.times));
                const medians = vr.map(x => median(x.times));
                const stmts = median(vr.flatMap(x => x.stmts));
                const txns = median(vr.flatMap(x => x.txns));
                const assume = vr.flatMap(x => x.assume).filter(x => x !== null);
                // where the time goes: per call, the mean over all timed calls of every round
                const all = vr.flatMap(x => x.sql || []);
                const per = Object.fromEntries(KINDS.map(k => [k, all.length ? mean(all.map(c => c[k] || 0)) : NaN]));
                const total = mean(vr.flatMap(x => x.times));
                const inSql = KINDS.reduce((s, k) => s + per[k], 0);
                const rest = per.begin + per.select + per.other;
                sqlRows.push(`| ${res.name} ${m.id} | ${VARIANT_NAMES[v]} | ${fx(total)} | ${fx(per.assume)} | ${fx(per.write)} | ${fx(per.commit)} | ` +
                    `${fx(rest)} | ${fx(inSql)} |`);
                timeRows.push(`| ${res.name} ${m.id} | ${VARIANT_NAMES[v]} | ${fx(median(means))} ms | ${fx(Math.min(...means))}–${fx(Math.max(...means))} ms | ` +
                    `${fx(median(medians))} ms | ${fx(stmts, 0)} | ${fx(txns, 0)} | ${assume.length ? `${fx(median(assume))} ms` : '—'} |`);
            }
        }
    }
    lines.push('| measure | target | median ratio | met? | min–max over rounds |', '|---|---|---|---|---|', ...ratioRows, '');
    lines.push('| call | variant | per-call mean (median over rounds) | min–max over rounds | per-call median | SQL statements per call | transactions per call | in `loginas.assume()` per call (the hook\'s round trip) |',
        '|---|---|---|---|---|---|---|---|', ...timeRows, '');
    lines.push('Where a call\'s time goes: ms per call, the mean over every timed call of every round; each query the platform sends ' +
        'timed in the worker, from handing it to node-postgres to its answer (round trips that overlap, queued behind each other on ' +
        'one connection or sent together, add up beyond the call\'s time):', '',
        '| call | variant | the call | `loginas.assume()` | INSERT/UPDATE/DELETE | COMMIT | BEGIN, SELECT and other | all round trips |',
        '|---|---|---|---|---|---|---|---|', ...sqlRows);
    const checks = [];
    for (const f of files) {
        const res = JSON.parse(fs.readFileSync(f, 'utf8'));
        const scaled = res.measures.filter(m => m.scale).map(m => `${m.id}: ${res.calls * m.scale} after ${res.warmup * m.scale}`).join(', ');
        checks.push(`- ${res.name}: ${res.rounds} rounds of ${res.calls} timed calls per variant and measure after ${res.warmup} untimed ones${scaled ? ` (${scaled})` : ''} (${res.seconds} s); ` +
            `last checks: ${VARIANTS.map(v => `${v}: ${res.checks[v]}`).join('; ')}`);
    }
    return { table: lines.join('\n'), checks: checks.join('\n') };
}

async function mainCli() {
    const [mode, ...rest] = process.argv.slice(2);
    if (mode === 'run' && rest.length === 2) {
        await run(rest[0], rest[1]);
    } else if (mode === 'report' && rest.length >= 1) {
        const { table, checks } = report(rest);
        process.stdout.write(`${checks}\n\n${table}\n`);
    } else {
        throw new Error('usage: bench-coordinate.js run PLATFORM OUT.json | report OUT.json...');
    }
}

mainCli().then(() => process.exit(0), e => {
    process.stderr.write(`bench-platforms: ${e && e.message || e}\n`);
    process.exit(1);
});
