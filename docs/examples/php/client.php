<?php
/*
 * docs/examples/php/client.php — a PHP program playing both sides of Login as
 * Customer against the demo shop (test/demo/shop.sql + setup.sql beside this
 * file): the admin backend (role magento_backend) and the storefront (role
 * magento_storefront), then a report (role magento_reports).
 *
 *   php client.php --host=/path/to/socket/dir --port=5432 --dbname=shopdb
 *
 * Options default to PGHOST, PGPORT, PGDATABASE; --backend-user,
 * --storefront-user and --reports-user name the three login roles.  It prints
 * a short transcript and ends with "php client: ok"; on any unexpected result
 * it prints "php client: FAILED: ..." and exits 1.  Run it once per fresh
 * database: it expects the state setup.sql leaves.
 */

declare(strict_types=1);

require __DIR__ . '/LoginAs.php';

$opt = getopt('', ['host:', 'port:', 'dbname:', 'backend-user:', 'storefront-user:', 'reports-user:']);
$host = $opt['host'] ?? (getenv('PGHOST') ?: '/var/run/postgresql');
$port = $opt['port'] ?? (getenv('PGPORT') ?: '5432');
$dbname = $opt['dbname'] ?? (getenv('PGDATABASE') ?: 'shop');
$dsn = sprintf('pgsql:host=%s;port=%s;dbname=%s', $host, $port, $dbname);

// The story: Sam Carter (admin user 2, role Support) helps Veronica Costello
// (customer 1) with her order 000000003 (sales_order 3).  Jane Smith
// (customer 2) owns cart item 8.
const SAM = 2;
const VERONICA = 1;
const ORDER_ID = 3;
const JANES_ITEM = 8;
const SAMS_BROWSER = '203.0.113.7';     // what the web servers see as REMOTE_ADDR

function say(string $who, string $what): void
{
    printf("%-10s %s\n", $who, $what);
}

function fail(string $what): never
{
    echo "php client: FAILED: $what\n";
    exit(1);
}

function expect(bool $ok, string $what): void
{
    if (!$ok) {
        fail($what);
    }
}

/** Run $fn, which must fail with SQLSTATE $state; returns the error message. */
function expect_error(string $state, callable $fn, string $what): string
{
    try {
        $fn();
    } catch (LoginAsSessionEnded $e) {
        expect($e->sqlState === $state, "$what: SQLSTATE {$e->sqlState}, expected $state ({$e->getMessage()})");
        return $e->getMessage();
    } catch (PDOException $e) {
        $got = loginas_sqlstate($e);
        expect($got === $state, "$what: SQLSTATE $got, expected $state (" . loginas_message($e) . ')');
        return loginas_message($e);
    }
    fail("$what: succeeded, expected SQLSTATE $state");
}

try {
    $backendDb = loginas_connect($dsn, $opt['backend-user'] ?? 'magento_backend');
    $storefrontDb = loginas_connect($dsn, $opt['storefront-user'] ?? 'magento_storefront');
    $reportsDb = loginas_connect($dsn, $opt['reports-user'] ?? 'magento_reports');
} catch (PDOException $e) {
    fail('cannot connect: ' . $e->getMessage());
}
$backend = new LoginAsBackend($backendDb);
$storefront = new LoginAsStorefront($storefrontDb);
echo "php client: $dsn\n";

try {
    // 1. Veronica has not allowed remote shopping assistance: no button.
    $c = $backend->check(SAM, VERONICA);
    expect(!$c['allowed'], 'check before consent: allowed');
    say('backend', "check(admin 2, customer 1): not allowed: {$c['reason']}");

    // 2. She ticks "Allow remote shopping assistance" on Account Information.
    expect($storefront->setAssistance(VERONICA, true), 'set_assistance returned false');
    say('storefront', 'customer 1 allows remote shopping assistance');
    $c = $backend->check(SAM, VERONICA);
    expect($c['allowed'], "check after consent: not allowed ({$c['reason']})");
    say('backend', 'check(admin 2, customer 1): allowed');

    // 3. Sam clicks Login as Customer on the order view.
    $ticket = $backend->beginFrom(SAM, 'order', ORDER_ID, reason: 'Call 4521: coupon not applied',
                                  clientAddr: SAMS_BROWSER);
    expect(preg_match('/^[0-9a-f]{64}$/', $ticket['token']) === 1, 'the ticket is not 64 hex digits');
    say('backend', "begin_from(order 3): a ticket of 64 hex digits for store view {$ticket['store_id']}");

    // 4. The browser lands on the storefront with the ticket.
    $s = $storefront->redeem($ticket['token'], SAMS_BROWSER);
    $key = $s['session_key'];       // kept in the storefront's own session, never shown
    expect($s['customer_id'] === VERONICA, "redeem: customer {$s['customer_id']}");
    expect(preg_match('/^[0-9a-f]{64}$/', $key) === 1, 'the session key is not 64 hex digits');
    expect($s['banner'] === 'You are connected as Veronica Costello on Main Website', "banner: {$s['banner']}");
    expect($s['disable_page_cache'] === true, 'disable_page_cache is not on');
    $sid = $s['session_id'];
    say('storefront', "redeem: session $sid, customer {$s['customer_id']}, store view {$s['store_id']}");
    say('storefront', "banner: {$s['banner']} (page cache bypassed)");
    $msg = expect_error(LoginAsSqlState::INVALID_AUTHORIZATION,
        fn () => $storefront->redeem($ticket['token']), 'second redeem of the ticket');
    say('storefront', "redeem again: refused: 28000 $msg");

    // 5. Request: view the cart, in the session.
    $cart = $storefront->request($key, function (PDO $db) {
        $ctx = $db->query('SELECT loginas.current_session() AS s, loginas.current_admin() AS a,
                                  loginas.current_customer() AS c')->fetch();
        $items = $db->query('SELECT i.sku FROM quote q JOIN quote_item i ON i.quote_id = q.entity_id
                              WHERE q.customer_id = loginas.current_customer() AND q.is_active = 1
                              ORDER BY i.item_id')->fetchAll(PDO::FETCH_COLUMN);
        return ['ctx' => $ctx, 'items' => $items];
    });
    expect((int) $cart['ctx']['s'] === $sid && (int) $cart['ctx']['a'] === SAM
           && (int) $cart['ctx']['c'] === VERONICA, 'the context inside the request');
    expect($cart['items'] === ['WS12-S-Blue', '24-WG085'], 'cart: ' . implode(', ', $cart['items']));
    say('storefront', "request 1 (view cart): admin 2 as customer 1 sees " . implode(', ', $cart['items']));
    $after = $storefrontDb->query('SELECT loginas.current_customer()')->fetchColumn();
    expect($after === null, 'the context outlived the request');
    say('storefront', 'after COMMIT: current_customer() is NULL');

    // 6. Request: add an item to her cart -- an attributed write.
    $added = $storefront->request($key, function (PDO $db) {
        $st = $db->prepare(
            "INSERT INTO quote_item (quote_id, store_id, product_id, product_type, is_virtual, sku, name,
                                     qty, price, base_price, row_total, base_row_total)
             SELECT q.entity_id, q.store_id, 4, 'simple', 0, :sku, 'Strive Shoulder Pack', 1, 32, 32, 32, 32
               FROM quote q
              WHERE q.customer_id = loginas.current_customer() AND q.is_active = 1
             RETURNING item_id, quote_id, loginas_created_session");
        $st->execute(['sku' => '24-MB04']);
        return $st->fetchAll();
    });
    expect(count($added) === 1, 'add to cart: ' . count($added) . ' rows');
    expect((int) $added[0]['loginas_created_session'] === $sid, 'add to cart: the row is not stamped with the session');
    say('storefront', "request 2 (add to cart): item {$added[0]['item_id']} in cart {$added[0]['quote_id']}, "
        . "stamped loginas_created_session = {$added[0]['loginas_created_session']}");

    // 7. Request: a forged item id of another customer's cart is refused.
    $msg = expect_error(LoginAsSqlState::INSUFFICIENT_PRIVILEGE, fn () => $storefront->request($key,
        function (PDO $db) {
            $st = $db->prepare('UPDATE quote_item SET qty = 3 WHERE item_id = :item');
            $st->execute(['item' => JANES_ITEM]);
        }), "update of customer 2's cart item");
    say('storefront', "request 3 (update item 8 of customer 2): refused: 42501 $msg");
    $qty = $backendDb->query('SELECT qty FROM quote_item WHERE item_id = ' . JANES_ITEM)->fetchColumn();
    expect((float) $qty === 1.0, "item 8 changed: qty $qty");
    say('backend', 'item 8 is unchanged (qty 1)');

    // 8. Sam logs out of the storefront; the next request with the key fails.
    expect($storefront->logout($key), 'end() returned false');
    say('storefront', 'logout: end() = true');
    $msg = expect_error(LoginAsSqlState::INVALID_AUTHORIZATION,
        fn () => $storefront->request($key, fn (PDO $db) => null), 'a request after logout');
    say('storefront', "request 4: assume refused: 28000 $msg -> log the customer out");

    // 9. Another session from the customer edit page, ended by Sam's admin logout.
    $backend->begin(SAM, VERONICA, reason: 'Call 4522');
    say('backend', 'begin(admin 2, customer 1) from the customer edit page');
    $n = $backend->adminLogout(SAM);
    expect($n === 1, "end_admin ended $n tickets or sessions, expected 1");
    say('backend', "admin logout: end_admin(2) ended $n ticket");

    // 10. The report: the log as the reporting role reads it.  The refused
    // attempts reach it too ('failure' rows) when loginas is in
    // shared_preload_libraries, written a moment later by a background
    // worker, so only the 'success' rows are checked here.
    $rows = $reportsDb->query(
        "SELECT action, admin_username, customer_email, session_id, host(client_addr) AS ip, source, reason,
                details->>'end_reason' AS end_reason, details->>'table' AS tab
           FROM loginas.action_log
          WHERE action_group = 'Login As Customer' AND customer_id = 1 AND result = 'success'
          ORDER BY log_id")->fetchAll();
    $actions = [];
    say('reports', sprintf('%-16s %-12s %-30s %-8s %-12s %s', 'action', 'admin', 'customer', 'session', 'ip',
        'source / reason / details'));
    foreach ($rows as $r) {
        $actions[] = $r['action'];
        say('reports', sprintf('%-16s %-12s %-30s %-8s %-12s %s', $r['action'], $r['admin_username'] ?? '-',
            $r['customer_email'] ?? '-', $r['session_id'] ?? '-', $r['ip'] ?? '-',
            implode(' / ', array_filter([$r['source'], $r['reason'], $r['end_reason'], $r['tab']]))));
    }
    $want = ['consent_granted', 'ticket_issued', 'ticket_redeemed', 'write_insert', 'session_ended',
             'ticket_issued', 'session_ended'];
    expect($actions === $want, 'log actions: ' . implode(', ', $actions) . '; expected ' . implode(', ', $want));
    $write = $rows[3];
    expect($write['admin_username'] === 'sam.support' && (int) $write['session_id'] === $sid
           && $write['tab'] === 'public.quote_item', 'the write_insert row');
    expect($rows[4]['end_reason'] === 'logout' && $rows[6]['end_reason'] === 'admin_logout', 'the end reasons');
    expect($rows[1]['ip'] === SAMS_BROWSER && $rows[2]['ip'] === SAMS_BROWSER && $rows[3]['ip'] === SAMS_BROWSER
           && $rows[4]['ip'] === SAMS_BROWSER, 'the client addresses of session 1');
    $refused = (int) $reportsDb->query(
        "SELECT count(*) FROM loginas.action_log WHERE customer_id = 1 AND result = 'failure'")->fetchColumn();
    say('reports', "and $refused refused attempts recorded so far (durable refusal log, docs/operations.md)");

    // 11. Veronica's My Account > Access history, on the storefront: the
    // session Sam opened (the ticket he never used is not listed), in her
    // words, without his name, his reason or anything internal.
    $history = $storefront->assistanceHistory(VERONICA);
    expect(count($history) === 1, 'access history: ' . count($history) . ' rows, expected 1');
    $h = $history[0];
    expect($h['administrator'] === 'Store administrator' && $h['reason'] === null
           && $h['changes'] === 'added 1 item(s) to your cart' && $h['ended_at'] !== null,
           'access history: ' . json_encode($h));
    say('storefront', "access history of customer 1: {$h['administrator']} {$h['changes']} ({$h['duration']})");
} catch (LoginAsSessionEnded $e) {
    fail("unexpected session end ({$e->sqlState}): {$e->getMessage()}");
} catch (PDOException $e) {
    fail('unexpected error (SQLSTATE ' . loginas_sqlstate($e) . '): ' . loginas_message($e));
}

echo "php client: ok\n";
