import CCurl

extension CurlTransfer {
    /// Sets every option of the easy handle for this job's request. The handle was fresh or `curl_easy_reset`.
    func configure(_ configuration: HTTPClientConfiguration) throws(HTTPClientError) {
        let request = job.request
        try set(CURLOPT_URL, request.url)
        // Only HTTPS, never a redirect: a request goes exactly where the caller said, with TLS verified.
        try set(CURLOPT_PROTOCOLS_STR, "https")
        try set(CURLOPT_FOLLOWLOCATION, 0)
        // HTTP/1.1 only, even with a server that offers h2 in ALPN (libcurl's default for HTTPS is to take it): over
        // HTTP/2 transfers would share one connection as streams, and the one-send guard (the prereq callback below
        // counts sends per transfer on its own connection) and the reasoning about a connection lost after a send
        // assume a connection carries one request at a time.
        try set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        try set(CURLOPT_NOSIGNAL, 1)
        // A transfer that ends while its host name is still being resolved (a connect timeout, a request cancelled
        // or shut down) leaves Debian's threaded resolver to finish on its own: without this, libcurl waits for that
        // thread's getaddrinfo to return, blocking the client's one thread — every other transfer, the queue,
        // cancellations — for as long as a slow DNS server takes (8 s stalls measured). The resolver thread then
        // ends by itself when getaddrinfo returns, its answer dropped.
        // Since libcurl 7.87 (Debian 12 has 7.88): an older library does without, rather than failing every request.
        try? set(CURLOPT_QUICK_EXIT, 1)
        // Counts the sends (whether the request may have gone out), and refuses a second one where it must not.
        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(numberd_curl_easy_setopt_prereq_callback(easy, Self.prereqCallback), "CURLOPT_PREREQFUNCTION")
        try check(numberd_curl_easy_setopt_pointer(easy, CURLOPT_PREREQDATA, me), "CURLOPT_PREREQDATA")
        if !request.allowsSilentResend {
            // A kept-alive connection may carry it (no TLS handshake per purchase), but a second send is refused;
            // and a connection idle for long is not reused for it, so that a server's idle close racing the request
            // (the one case where libcurl would re-send) stays rare.
            let idleMax = configuration.timeouts.nonRepeatableReuseIdleSeconds
            // libcurl's age check is in whole seconds (a connection idle under a second passes a maximum of 0).
            try set(idleMax == 0 ? CURLOPT_FRESH_CONNECT : CURLOPT_MAXAGE_CONN, idleMax == 0 ? 1 : idleMax)
        }
        if let proxy = configuration.proxy {
            // The configured proxy replaces the environment's; an empty NO_PROXY list exempts no host from it.
            try set(CURLOPT_PROXY, proxy)
            try set(CURLOPT_NOPROXY, "")
        } else if !configuration.usesEnvironmentProxy {
            // An empty proxy string turns off libcurl's reading of the environment's proxy variables.
            try set(CURLOPT_PROXY, "")
        }
        try set(CURLOPT_TCP_KEEPALIVE, 1)
        try set(CURLOPT_SSL_VERIFYPEER, 1)
        try set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile = configuration.tls.caFilePath {
            // Trust exactly this file: no system CA directory next to it.
            try set(CURLOPT_CAINFO, caFile)
            try check(numberd_curl_easy_setopt_string(easy, CURLOPT_CAPATH, nil), "CURLOPT_CAPATH")
            // Read for each new connection (kept-alive ones are reused without it): since 7.87 libcurl otherwise keeps
            // the store it first read from this path for 24 hours, whatever the file holds since — a CA replaced in
            // place (a restarted twilio-sim's, a proxy's rotated one) failed every call until numberd restarted. An
            // older library, which has no such cache, does without.
            try? set(CURLOPT_CA_CACHE_TIMEOUT, 0)
        }
        try set(CURLOPT_CONNECTTIMEOUT_MS, configuration.timeouts.connectMilliseconds)
        try set(CURLOPT_TIMEOUT_MS, request.timeoutMilliseconds ?? configuration.timeouts.totalMilliseconds)
        let bodyMax = curl_off_t(configuration.limits.responseBodyLengthMax)
        try check(numberd_curl_easy_setopt_off_t(easy, CURLOPT_MAXFILESIZE_LARGE, bodyMax), "CURLOPT_MAXFILESIZE")
        try set(CURLOPT_ACCEPT_ENCODING, "")
        try set(CURLOPT_USERAGENT, configuration.userAgent)
        try setCallbacks()
        try setMethodAndBody(request)
        try setHeaders(request)
        if let credentials = request.basicAuth {
            try set(CURLOPT_HTTPAUTH, numberd_curlauth_basic())
            try set(CURLOPT_USERNAME, credentials.username)
            try set(CURLOPT_PASSWORD, credentials.password)
        }
    }

    private func setCallbacks() throws(HTTPClientError) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        try check(numberd_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer), "CURLOPT_ERRORBUFFER")
        try check(
            numberd_curl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, Self.writeCallback),
            "CURLOPT_WRITEFUNCTION")
        try check(numberd_curl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, me), "CURLOPT_WRITEDATA")
        try check(
            numberd_curl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, Self.headerCallback),
            "CURLOPT_HEADERFUNCTION")
        try check(numberd_curl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, me), "CURLOPT_HEADERDATA")
    }

    private func setMethodAndBody(_ request: HTTPRequest) throws(HTTPClientError) {
        switch request.method {
        case .get: try set(CURLOPT_HTTPGET, 1)
        case .head: try set(CURLOPT_NOBODY, 1)
        case .post: try set(CURLOPT_POST, 1)
        case .put, .patch, .delete: try set(CURLOPT_CUSTOMREQUEST, request.method.rawValue)
        }
        guard let body = request.body else {
            if request.method == .post {
                try check(numberd_curl_easy_set_body(easy, "", 0), "CURLOPT_COPYPOSTFIELDS")
            }
            return
        }
        let code = body.withUnsafeBytes { bytes in
            // COPYPOSTFIELDS copies, so the array need not outlive this call; an empty body still needs a pointer.
            numberd_curl_easy_set_body(easy, bytes.baseAddress ?? UnsafeRawPointer(errorBuffer), curl_off_t(body.count))
        }
        try check(code, "CURLOPT_COPYPOSTFIELDS")
    }

    private func setHeaders(_ request: HTTPRequest) throws(HTTPClientError) {
        for header in request.headers {
            // "Name:" alone would tell libcurl to remove a header; an empty value is sent as "Name;".
            try appendHeaderLine(header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)")
        }
        // No "Expect: 100-continue" round trip (libcurl waits up to 1 s for it on bodies over 1 KiB).
        try appendHeaderLine("Expect:")
        try check(numberd_curl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, requestHeaderList), "CURLOPT_HTTPHEADER")
    }

    private func set(_ option: CURLoption, _ value: Int) throws(HTTPClientError) {
        try check(numberd_curl_easy_setopt_long(easy, option, value), "option \(option.rawValue)")
    }

    private func set(_ option: CURLoption, _ value: String) throws(HTTPClientError) {
        try check(numberd_curl_easy_setopt_string(easy, option, value), "option \(option.rawValue)")
    }

    private func check(_ code: CURLcode, _ what: String) throws(HTTPClientError) {
        guard code != CURLE_OK else { return }
        let reason = String(cString: curl_easy_strerror(code))
        throw HTTPClientError(
            code: code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL ? .invalidRequest : .internalError,
            message: "libcurl refused \(what): \(reason)",
            requestMayHaveBeenSent: false,
            curlCode: Int(code.rawValue)
        )
    }
}
