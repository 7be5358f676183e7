import NumberCore

/// The server-wide budgets of the log lines a client can cause at will, on top of each connection's own limits:
/// refused calls (no key needed), failed calls, connections closed for a framing error, failed authentications, a
/// failed TLS handshake or a TLS protocol error, and the warning with a core error's internal detail
/// (``RPCError/mapping(_:context:)``: a provider that is down, or a search Twilio answers 404, is one warning per
/// call). One per ``NumberServer`` — numberd runs one, so these are the process's. Every window is ``window``.
final class ServerLogBudgets: Sendable {
    /// The window of every budget. 10 s.
    static let window = Duration.seconds(10)
    /// Calls refused before their handler ran or for their caller (`UNAUTHENTICATED`, `PERMISSION_DENIED`), each
    /// connection's first 3 (``ServerConnectionHandler/refusedCallsLoggedMax``) at info: 20 a window across
    /// connections.
    static let refusedCallsLinesMax = 20
    /// Failed calls of callers with a key at info (each connection's first 20 a window): 100 a window across
    /// connections; the server's own failures (`INTERNAL`, `UNAVAILABLE`...) counted apart, per status, so a flood of
    /// refusals cannot hide them.
    static let failedCallsLinesMax = 100
    /// Connections closed for a framing error, drained for failed authentications, closed for a TLS protocol error
    /// after the handshake, and TLS handshakes failed (per reason), at notice: 20 a window of each.
    static let connectionClosingLinesMax = 20
    /// The warning with a failed call's internal detail, per reason (`PROVIDER_UNAVAILABLE`, `NUMBER_NOT_FOUND`...):
    /// 20 a window of each.
    static let callFailureWarningsMax = 20

    let refusedCalls = LogBudget(linesMax: ServerLogBudgets.refusedCallsLinesMax, window: ServerLogBudgets.window)
    let failedCalls = LogBudget(linesMax: ServerLogBudgets.failedCallsLinesMax, window: ServerLogBudgets.window)
    let connectionClosings = LogBudget(
        linesMax: ServerLogBudgets.connectionClosingLinesMax, window: ServerLogBudgets.window)
    let callFailureWarnings = LogBudget(
        linesMax: ServerLogBudgets.callFailureWarningsMax, window: ServerLogBudgets.window)

    /// Shared by the call contexts made outside a server (with ``CallContext``'s public initializer).
    static let outsideServers = ServerLogBudgets()

    init() {}
}
