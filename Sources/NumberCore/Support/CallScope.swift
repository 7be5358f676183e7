import Logging

/// What the core knows about the call it is working for, carried as task-locals so that every log line written on
/// the call's behalf — the saga's, the Twilio adapter's, in child tasks too — names the call without each
/// operation taking a logger or an id. The server binds it around each call's handler; background runs (billing,
/// reconciliation, the orphan sweep) have none.
///
/// ```swift
/// await CallScope.$requestID.withValue("req-42") {
///     _ = try await service.purchase(request)  // its log lines carry request-id=req-42
/// }
/// ```
public enum CallScope {
    /// The request id of the call the current task works for (the client's, or the one the server made).
    @TaskLocal public static var requestID: String?

    /// `logger` with the current call's `request-id` added, or `logger` itself outside a call. Only for lines
    /// actually logged: it copies the logger's metadata.
    public static func decorate(_ logger: Logger) -> Logger {
        guard let requestID else { return logger }
        var decorated = logger
        decorated[metadataKey: "request-id"] = "\(requestID)"
        return decorated
    }
}
