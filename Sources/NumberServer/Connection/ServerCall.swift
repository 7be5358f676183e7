import Metrics
import NIOCore
import NumberAPI
import NumberCore

/// One call ready to run: the handler with its decoded request, its context, and the way back to its connection. It
/// holds no request bytes (the request was decoded when it arrived, ``RPCRouter/Entry/asynchronous(_:)``): the task
/// group that runs it keeps it for the whole call, which may wait in the core for long.
struct ServerCall: Sendable {
    let streamID: UInt32
    let context: CallContext
    /// The method's handler, bound to the decoded request.
    let handler: RPCRouter.DecodedCall
    let connection: NIOLoopBound<ServerConnectionHandler>
    /// How the connection stops this call's work once nobody awaits its result.
    let cancellation: CallCancellation
    /// `numberd_calls_in_flight` of the call's method: one more while its handler runs.
    let inFlight: Meter

    /// Runs the handler and hands the result to the connection's event loop; when the connection cancels the call
    /// first, the handler's task is cancelled and its result, if any, dropped. When this task is cancelled instead (the
    /// server's task cancelled, the connection still open), the handler, cancelled too, still answers: nobody else
    /// would, and the call held its stream (and the connection from its idle timeout) until the client's deadline, or
    /// for ever without one.
    func run() async {
        let context = self.context
        let handler = self.handler
        let cancellation = self.cancellation
        // Until the handler has returned: the group below waits for it even when the connection answered first.
        inFlight.increment(by: 1)
        defer { inFlight.decrement(by: 1) }
        let result = await withTaskGroup(of: Result<ByteBuffer, RPCError>?.self) { group in
            // The core's log lines about this call (the saga's, the Twilio adapter's) carry its request id.
            group.addTask {
                await CallScope.$requestID.withValue(context.requestID) { await handler(context) }
            }
            group.addTask {
                await cancellation.cancelled()
                return nil
            }
            var first = await group.next() ?? nil
            if first == nil, !cancellation.cancelledByConnection { first = await group.next() ?? nil }
            group.cancelAll()
            return first
        }
        guard let result else { return }  // cancelled by the connection: it already answered or forgot the call
        let connection = self.connection
        let streamID = self.streamID
        let authenticated = context.isAuthenticated
        connection.eventLoop.execute {
            connection.value.complete(streamID: streamID, result: result, authenticated: authenticated)
        }
    }
}
