import NIOCore

extension ChannelPipeline.SynchronousOperations {
    /// Adds a server-side ``TLSHandler`` at the front of the pipeline.
    ///
    /// Call on the channel's event loop, e.g. from `ServerBootstrap.childChannelInitializer`:
    /// ```swift
    /// .childChannelInitializer { channel in
    ///     channel.eventLoop.makeCompletedFuture {
    ///         try channel.pipeline.syncOperations.addTLSServerHandler(context: tlsContext)
    ///         try channel.pipeline.syncOperations.addHandler(MyHandler())
    ///     }
    /// }
    /// ```
    public func addTLSServerHandler(context: TLSContext) throws {
        try addHandler(TLSHandler(serverContext: context), position: .first)
    }

    /// Adds a client-side ``TLSHandler`` at the front of the pipeline; the server certificate must match
    /// `serverHostname` (DNS name or IP address). With `sessionCache`, sessions are resumed per `sessionKey`
    /// (default: the hostname; use `"host:port"` when several servers share a name).
    public func addTLSClientHandler(
        context: TLSContext, serverHostname: String, sessionCache: TLSSessionCache? = nil, sessionKey: String? = nil
    ) throws {
        let handler = try TLSHandler(
            clientContext: context, serverHostname: serverHostname, sessionCache: sessionCache,
            sessionKey: sessionKey)
        try addHandler(handler, position: .first)
    }
}
