import NIOCore
import NumberAPI
import NumberCore

/// One call ready to run: the handler, its request bytes and context, and the way back to its connection.
struct ServerCall: Sendable {
    let streamID: UInt32
    let payload: ByteBuffer
    let context: CallContext
    let handler: RPCRouter.Handler
    let connection: NIOLoopBound<ServerConnectionHandler>
    /// How the connection stops this call's work once nobody awaits its result.
    let cancellation: CallCancellation

    /// Runs the handler and hands the result to the connection's event loop; when the connection cancels the call
    /// first, the handler's task is cancelled and its result, if any, dropped.
    func run() async {
        let payload = self.payload
        let context = self.context
        let handler = self.handler
        let cancellation = self.cancellation
        let result = await withTaskGroup(of: Result<ByteBuffer, RPCError>?.self) { group in
            // The core's log lines about this call (the saga's, the Twilio adapter's) carry its request id.
            group.addTask {
                await CallScope.$requestID.withValue(context.requestID) { await handler(payload, context) }
            }
            group.addTask {
                await cancellation.cancelled()
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let result else { return }  // cancelled first: the connection already answered or forgot the call
        let connection = self.connection
        let streamID = self.streamID
        let authenticated = context.isAuthenticated
        connection.eventLoop.execute {
            connection.value.complete(streamID: streamID, result: result, authenticated: authenticated)
        }
    }
}
