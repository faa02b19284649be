<?php
/*
 * docs/examples/php/LoginAs.php — the calls a PHP shop makes to loginas,
 * over PDO pgsql.  Two small classes, one per application:
 *
 *   LoginAsBackend     the admin panel, connected as a role that has
 *                      loginas_admin: check, begin / begin_from, admin logout
 *   LoginAsStorefront  the storefront, connected as a role that has
 *                      loginas_storefront: the customer's consent, redeem,
 *                      one transaction per request with assume, logout
 *
 * docs/integration.md explains the flow; docs/sql-reference.md every
 * function and error.  Rules this file follows:
 *   - tickets and session keys are always bound parameters, never part of
 *     the SQL text (a failing statement's text goes to the server log);
 *   - assume() is the first statement of the request's transaction, which
 *     PDO opens with beginTransaction(): the context lives in that
 *     transaction only (safe behind transaction-pooling poolers);
 *   - any error from assume() means: the session is over, log the customer
 *     out of the storefront.
 */

declare(strict_types=1);

/** SQLSTATEs loginas raises (docs/sql-reference.md). */
final class LoginAsSqlState
{
    public const INVALID_PARAMETER = '22023';      // bad argument, unknown admin/customer/store/document
    public const INVALID_AUTHORIZATION = '28000';  // ticket or session key unknown, used, expired, ended
    public const INSUFFICIENT_PRIVILEGE = '42501';  // permission or consent refusal; a write the session may not make
    public const NOT_IN_PREREQUISITE_STATE = '55000'; // feature disabled, customer inactive, guest document, ...
    public const SERIALIZATION_FAILURE = '40001';  // REPEATABLE READ / SERIALIZABLE: retry the transaction
}

/** The Login as Customer session is over (assume refused): log the customer out. */
final class LoginAsSessionEnded extends RuntimeException
{
    public function __construct(public readonly string $sqlState, string $message, ?Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }
}

/** A PDO connection set up the way loginas wants it. */
function loginas_connect(string $dsn, string $user, ?string $password = null): PDO
{
    $db = new PDO($dsn, $user, $password, [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_DEFAULT_FETCH_MODE => PDO::FETCH_ASSOC,
        // Parameters travel apart from the SQL text (extended protocol), so a
        // secret never appears in a statement the server logs.
        PDO::ATTR_EMULATE_PREPARES => false,
        // Statement and parameters in one round trip (PQexecParams), no named
        // server-side prepared statement: works behind transaction poolers.
        PDO::PGSQL_ATTR_DISABLE_PREPARES => true,
    ]);
    return $db;
}

/** The SQLSTATE of a PDO error ('' when there is none). */
function loginas_sqlstate(Throwable $e): string
{
    if ($e instanceof PDOException) {
        return (string) ($e->errorInfo[0] ?? $e->getCode());
    }
    return '';
}

/** The server's message of a PDO error, without "ERROR:", DETAIL and HINT. */
function loginas_message(Throwable $e): string
{
    $text = $e instanceof PDOException ? (string) ($e->errorInfo[2] ?? $e->getMessage()) : $e->getMessage();
    return preg_replace('/^ERROR:\s+/', '', strtok($text, "\n"));
}

final class LoginAsBackend
{
    public function __construct(private PDO $db)
    {
    }

    /** Show the Login as Customer button, or why not. @return array{allowed: bool, reason: ?string} */
    public function check(int $adminId, int $customerId): array
    {
        $st = $this->db->prepare('SELECT allowed, reason FROM loginas.check(:admin, :customer)');
        $st->execute(['admin' => $adminId, 'customer' => $customerId]);
        $row = $st->fetch();
        return ['allowed' => (bool) $row['allowed'], 'reason' => $row['reason']];
    }

    /**
     * The button on the customer edit page.  $clientAddr: the admin's browser
     * address as the web server sees it ($_SERVER['REMOTE_ADDR']), for the log.
     * @return array{token: string, expires_at: string, store_id: int}
     */
    public function begin(int $adminId, int $customerId, ?int $storeId = null, ?string $reason = null,
                          string $source = 'customer edit page', bool $readOnly = false,
                          ?string $clientAddr = null): array
    {
        $st = $this->db->prepare(
            'SELECT token, expires_at, store_id
               FROM loginas.begin(admin_id => :admin, customer_id => :customer, store_id => :store,
                                  reason => :reason, source => :source, read_only => :ro,
                                  client_addr => CAST(:addr AS inet))');
        $st->bindValue('admin', $adminId, PDO::PARAM_INT);
        $st->bindValue('customer', $customerId, PDO::PARAM_INT);
        $st->bindValue('store', $storeId, $storeId === null ? PDO::PARAM_NULL : PDO::PARAM_INT);
        $st->bindValue('reason', $reason, $reason === null ? PDO::PARAM_NULL : PDO::PARAM_STR);
        $st->bindValue('source', $source);
        $st->bindValue('ro', $readOnly, PDO::PARAM_BOOL);
        $st->bindValue('addr', $clientAddr, $clientAddr === null ? PDO::PARAM_NULL : PDO::PARAM_STR);
        $st->execute();
        return self::ticket($st->fetch());
    }

    /**
     * The button on the order, invoice, shipment and credit memo views
     * ($kind: order, invoice, shipment, credit_memo).
     * @return array{token: string, expires_at: string, store_id: int}
     */
    public function beginFrom(int $adminId, string $kind, int $documentId, ?int $storeId = null,
                              ?string $reason = null, bool $readOnly = false, ?string $clientAddr = null): array
    {
        $st = $this->db->prepare(
            'SELECT token, expires_at, store_id
               FROM loginas.begin_from(admin_id => :admin, document_kind => :kind, document_id => :doc,
                                       store_id => :store, reason => :reason, read_only => :ro,
                                       client_addr => CAST(:addr AS inet))');
        $st->bindValue('admin', $adminId, PDO::PARAM_INT);
        $st->bindValue('kind', $kind);
        $st->bindValue('doc', $documentId, PDO::PARAM_INT);
        $st->bindValue('store', $storeId, $storeId === null ? PDO::PARAM_NULL : PDO::PARAM_INT);
        $st->bindValue('reason', $reason, $reason === null ? PDO::PARAM_NULL : PDO::PARAM_STR);
        $st->bindValue('ro', $readOnly, PDO::PARAM_BOOL);
        $st->bindValue('addr', $clientAddr, $clientAddr === null ? PDO::PARAM_NULL : PDO::PARAM_STR);
        $st->execute();
        return self::ticket($st->fetch());
    }

    /** Admin logout: ends the admin's live ticket or session; returns how many. */
    public function adminLogout(int $adminId): int
    {
        $st = $this->db->prepare('SELECT loginas.end_admin(:admin)');
        $st->execute(['admin' => $adminId]);
        return (int) $st->fetchColumn();
    }

    private static function ticket(array $row): array
    {
        return ['token' => $row['token'], 'expires_at' => $row['expires_at'], 'store_id' => (int) $row['store_id']];
    }
}

final class LoginAsStorefront
{
    public function __construct(private PDO $db)
    {
    }

    /** Account Information > Allow remote shopping assistance (the customer's own choice). */
    public function setAssistance(int $customerId, bool $allowed): bool
    {
        $st = $this->db->prepare('SELECT loginas.set_assistance(customer_id => :customer, allowed => :allowed)');
        $st->bindValue('customer', $customerId, PDO::PARAM_INT);
        $st->bindValue('allowed', $allowed, PDO::PARAM_BOOL);
        $st->execute();
        return (bool) $st->fetchColumn();
    }

    /**
     * The landing URL of the ticket: exchange it for a session.  Keep
     * session_key in the storefront's own (server-side) session; show the
     * banner; bypass the page cache when disable_page_cache is true.
     * A refusal (28000 for a used or expired ticket, or a policy SQLSTATE)
     * is a PDOException: show an error page, nobody is logged in.
     * $clientAddr: the browser's address ($_SERVER['REMOTE_ADDR']), for the log.
     */
    public function redeem(string $token, ?string $clientAddr = null): array
    {
        $st = $this->db->prepare(
            'SELECT session_id, session_key, customer_id, store_id, banner, disable_page_cache, expires_at
               FROM loginas.redeem(:token, CAST(:addr AS inet))');
        $st->bindValue('token', $token);
        $st->bindValue('addr', $clientAddr, $clientAddr === null ? PDO::PARAM_NULL : PDO::PARAM_STR);
        $st->execute();
        $row = $st->fetch();
        $row['session_id'] = (int) $row['session_id'];
        $row['customer_id'] = (int) $row['customer_id'];
        $row['store_id'] = (int) $row['store_id'];
        $row['disable_page_cache'] = (bool) $row['disable_page_cache'];
        return $row;
    }

    /**
     * One storefront request in a Login as Customer session: BEGIN, assume,
     * the request's work, COMMIT.  $work gets the PDO handle; its queries
     * find the customer with loginas.current_customer().
     *
     * Throws LoginAsSessionEnded when assume refuses (log the customer out);
     * any other error rolls the request back and is rethrown as it is.
     */
    public function request(string $sessionKey, callable $work): mixed
    {
        $this->db->beginTransaction();
        try {
            $st = $this->db->prepare('SELECT loginas.assume(:key)');
            $st->execute(['key' => $sessionKey]);
        } catch (PDOException $e) {
            $this->db->rollBack();
            throw new LoginAsSessionEnded(loginas_sqlstate($e), loginas_message($e), $e);
        }
        try {
            $result = $work($this->db);
            $this->db->commit();    // the writes and their log rows commit together
            return $result;
        } catch (Throwable $e) {
            if ($this->db->inTransaction()) {
                $this->db->rollBack();
            }
            throw $e;
        }
    }

    /**
     * My Account > Access history: the assistance sessions on the logged-in
     * customer's account, newest first -- started_at, ended_at (NULL while it
     * goes on), duration, administrator ("Store administrator" unless the
     * merchant shows names), reason (NULL unless the merchant shows it),
     * changes (the merchant's words, NULL when nothing was written).  Pass
     * the customer of the storefront's own login, never an id from the
     * request.
     */
    public function assistanceHistory(int $customerId): array
    {
        $st = $this->db->prepare(
            'SELECT started_at, ended_at, duration, administrator, reason, changes
               FROM loginas.my_assistance_history(:customer)');
        $st->bindValue('customer', $customerId, PDO::PARAM_INT);
        $st->execute();
        return $st->fetchAll();
    }

    /** Customer logout (or the storefront's own session timeout). */
    public function logout(string $sessionKey, string $reason = 'logout'): bool
    {
        $st = $this->db->prepare('SELECT loginas."end"(:key, :reason)');
        $st->execute(['key' => $sessionKey, 'reason' => $reason]);
        return (bool) $st->fetchColumn();
    }
}
