import CCurl

/// The two libcurl calls that drive the client's thread, as values so a test can make one fail (libcurl out of
/// memory, a `poll` that cannot wait) without breaking libcurl.
struct MultiCalls: Sendable {
    /// `curl_multi_perform`: runs what is ready on every transfer.
    var perform: @Sendable (_ multi: UnsafeMutableRawPointer) -> CURLMcode
    /// `curl_multi_poll`: sleeps up to `timeoutMilliseconds` until a socket, a timer or a wake-up needs the thread.
    var poll: @Sendable (_ multi: UnsafeMutableRawPointer, _ timeoutMilliseconds: Int32) -> CURLMcode

    /// libcurl's.
    static let system = MultiCalls(
        perform: { multi in
            var running: Int32 = 0
            return curl_multi_perform(multi, &running)
        },
        poll: { multi, timeoutMilliseconds in curl_multi_poll(multi, nil, 0, timeoutMilliseconds, nil) })
}
