/// What the transport does after the engine handled a request.
public enum TransportAction: Sendable, Equatable {
    /// Send this response.
    case respond(SimulatorResponse)
    /// Abort the connection with a TCP reset, sending nothing.
    case reset
    /// Close the connection cleanly without a response (the "response lost" case).
    case close
    /// Send nothing for this long, then close.
    case stallThenClose(milliseconds: Int)
}
