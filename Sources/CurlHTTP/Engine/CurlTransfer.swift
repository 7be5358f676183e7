import CCurl

/// One running transfer on the client's thread: the easy handle's options, the buffers its callbacks fill, and
/// the C memory (header list, error buffer) that must outlive the transfer. Confined to the client's thread.
final class CurlTransfer {
    /// Which limit a response broke, if any.
    enum Overflow {
        case body, headers
    }

    let job: CurlJob
    let easy: UnsafeMutableRawPointer
    private(set) var body: [UInt8] = []
    private(set) var headers: [HTTPHeader] = []
    private(set) var overflow: Overflow?
    private var headerBytes = 0
    /// How many times libcurl was about to send the request (``prereqCallback``).
    private(set) var sendAttempts = 0
    private var headerList: UnsafeMutablePointer<curl_slist>?
    let errorBuffer: UnsafeMutablePointer<CChar>
    private let bodyLengthMax: Int
    private let headersLengthMax: Int

    init(job: CurlJob, easy: UnsafeMutableRawPointer, limits: HTTPClientConfiguration.Limits) {
        self.job = job
        self.easy = easy
        self.bodyLengthMax = limits.responseBodyLengthMax
        self.headersLengthMax = limits.responseHeadersLengthMax
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// The message libcurl wrote for the last failure, or `""`.
    var errorMessage: String { String(cString: errorBuffer) }

    /// Appends a request header line to the list handed to libcurl.
    func appendHeaderLine(_ line: String) throws(HTTPClientError) {
        guard let list = curl_slist_append(headerList, line) else {
            throw HTTPClientError(code: .internalError, message: "out of memory", requestMayHaveBeenSent: false)
        }
        headerList = list
    }

    /// The header list to pass as `CURLOPT_HTTPHEADER`.
    var requestHeaderList: UnsafeMutablePointer<curl_slist>? { headerList }

    /// Body bytes from the write callback; returns `false` (abort) past `responseBodyLengthMax`.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= bodyLengthMax else {
            overflow = .body
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// One header line from the header callback; returns `false` (abort) past `responseHeadersLengthMax`.
    func receiveHeaderLine(_ bytes: UnsafeRawBufferPointer) -> Bool {
        headerBytes += bytes.count
        guard headerBytes <= headersLengthMax else {
            overflow = .headers
            return false
        }
        var line = String(decoding: bytes, as: UTF8.self)
        while line.last?.isNewline == true { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new response begins (after a 100 Continue, say): only the final one's headers count.
            headers.removeAll()
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            var value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            while value.last == " " || value.last == "\t" { value.removeLast() }
            headers.append(HTTPHeader(name: name, value: String(value)))
        }
        return true
    }
}

extension CurlTransfer {
    /// `CURLOPT_WRITEFUNCTION`: returning fewer bytes than given makes libcurl abort with `CURLE_WRITE_ERROR`.
    static let writeCallback: numberd_curl_data_callback = { pointer, size, count, userData in
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(userData!).takeUnretainedValue()
        let length = size * count
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        return transfer.receiveBody(bytes) ? length : 0
    }

    /// `CURLOPT_PREREQFUNCTION`, set for every request: libcurl calls it each time it is about to send the request,
    /// on a new or reused connection, once that connection (TLS handshake included) is set up — so a transfer it was
    /// never called for sent nothing. For a request that must not be sent twice, a second call is libcurl re-sending
    /// by itself after a reused connection closed before any answer; it is refused, so the transfer fails
    /// (`CURLE_ABORTED_BY_CALLBACK`) with the request sent at most once.
    static let prereqCallback: curl_prereq_callback = { userData, _, _, _, _ in
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(userData!).takeUnretainedValue()
        transfer.sendAttempts += 1
        let allowed = transfer.sendAttempts == 1 || transfer.job.request.allowsSilentResend
        return allowed ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT
    }

    /// `CURLOPT_HEADERFUNCTION`: called once per header line, status line included.
    static let headerCallback: numberd_curl_data_callback = { pointer, size, count, userData in
        let transfer = Unmanaged<CurlTransfer>.fromOpaque(userData!).takeUnretainedValue()
        let length = size * count
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        return transfer.receiveHeaderLine(bytes) ? length : 0
    }
}
