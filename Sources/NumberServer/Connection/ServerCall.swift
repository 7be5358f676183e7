import NIOCore
import NumberAPI

/// One call ready to run: the handler, its request bytes and context, and the way back to its connection.
struct ServerCall: Sendable {
    let streamID: UInt32
    let payload: ByteBuffer
    let context: CallContext
    let handler: RPCRouter.Handler
    let connection: NIOLoopBound<ServerConnectionHandler>

    /// Runs the handler and hands the result to the connection's event loop.
    func run() async {
        let result = await handler(payload, context)
        let connection = self.connection
        let streamID = self.streamID
        connection.eventLoop.execute {
            connection.value.complete(streamID: streamID, result: result)
        }
    }
}
