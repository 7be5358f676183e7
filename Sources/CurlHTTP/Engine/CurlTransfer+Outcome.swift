import CCurl

extension CurlTransfer {
    /// Turns libcurl's result for the finished transfer into a response or an error that says what failed.
    func outcome(_ code: CURLcode) -> Result<HTTPResponse, HTTPClientError> {
        let metrics = TransferMetrics(
            totalMicroseconds: Int64(infoOffset(CURLINFO_TOTAL_TIME_T)),
            newConnections: infoLong(CURLINFO_NUM_CONNECTS)
        )
        if code == CURLE_OK {
            let status = infoLong(CURLINFO_RESPONSE_CODE)
            let version = HTTPVersion(curlValue: infoLong(CURLINFO_HTTP_VERSION))
            return .success(
                HTTPResponse(status: status, headers: headers, body: body, metrics: metrics, httpVersion: version))
        }
        return .failure(error(for: code))
    }

    private func error(for code: CURLcode) -> HTTPClientError {
        // Conservative: once libcurl reached "about to send", part of the request may be at the server.
        let maybeSent = infoOffset(CURLINFO_PRETRANSFER_TIME_T) > 0 || infoLong(CURLINFO_REQUEST_SIZE) > 0
        let detail = errorMessage.isEmpty ? String(cString: curl_easy_strerror(code)) : errorMessage
        let (kind, summary, classifiedSent) =
            code == CURLE_ABORTED_BY_CALLBACK && sendAttempts > 1
            ? (.connectionLost, "connection lost before any answer; not sent again", true)
            : classify(code, maybeSent: maybeSent)
        // Once the request went out, any failure after it may follow a sent request: libcurl's own retry on a dead
        // reused connection opens a new one first, and a connect or TLS failure there (never reaching the second
        // send) would otherwise read as "not sent", and be repeated.
        let sent = classifiedSent || sendAttempts > 0
        return HTTPClientError(
            code: kind,
            message: "\(summary) (\(job.request.method.rawValue) \(hostAndPath)): \(detail)",
            requestMayHaveBeenSent: sent,
            curlCode: Int(code.rawValue)
        )
    }

    private func classify(_ code: CURLcode, maybeSent: Bool) -> (HTTPClientError.Code, String, Bool) {
        switch code {
        case CURLE_WRITE_ERROR where overflow == .body, CURLE_FILESIZE_EXCEEDED:
            return (.responseTooLarge, "response body larger than responseBodyLengthMax", true)
        case CURLE_WRITE_ERROR where overflow == .headers:
            return (.responseTooLarge, "response headers larger than responseHeadersLengthMax", true)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return (.dnsResolution, "host name did not resolve", false)
        case CURLE_COULDNT_CONNECT:
            return (.connect, "could not connect", false)
        case CURLE_PEER_FAILED_VERIFICATION:
            return (.tlsVerification, "server certificate not trusted (\(verifyResultText))", false)
        case CURLE_SSL_CONNECT_ERROR:
            return (.tlsHandshake, "TLS handshake failed", false)
        case CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_CRL_BADFILE, CURLE_SSL_ENGINE_INITFAILED:
            return (.tlsConfiguration, "the client's TLS setup could not be used", false)
        case CURLE_OPERATION_TIMEDOUT:
            return (.timeout, maybeSent ? "timed out waiting for the response" : "timed out connecting", maybeSent)
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            return (.connectionLost, "connection lost", maybeSent)
        case CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT:
            return (.invalidRequest, "request rejected before sending", false)
        // The URL was checked to be https:// before queueing, so "unsupported protocol" means an HTTP/0.9 reply.
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_BAD_CONTENT_ENCODING,
            CURLE_RANGE_ERROR:
            return (.protocolError, "invalid HTTP response", true)
        default:
            return (.internalError, "transfer failed", maybeSent)
        }
    }

    /// The OpenSSL verification result, e.g. "X509 error 62: hostname mismatch".
    private var verifyResultText: String {
        let result = infoLong(CURLINFO_SSL_VERIFYRESULT)
        // libcurl checks the host name itself after OpenSSL accepted the chain, so a mismatch leaves result 0.
        if result == 0 { return "chain trusted, but the certificate does not match the host name" }
        let names = [
            2: "unable to get issuer certificate", 10: "certificate expired", 18: "self-signed certificate",
            19: "self-signed certificate in chain", 20: "unable to get local issuer certificate",
            21: "unable to verify the first certificate", 62: "hostname mismatch", 64: "IP address mismatch",
        ]
        return "X509 error \(result): \(names[result] ?? "see OpenSSL's X509_V_ERR codes")"
    }

    /// Scheme-less URL without the query, for messages (query strings may hold customer data).
    private var hostAndPath: String {
        var url = Substring(job.request.url)
        if let scheme = url.range(of: "://") { url = url[scheme.upperBound...] }
        if let query = url.firstIndex(of: "?") { url = url[..<query] }
        return String(url)
    }

    func infoLong(_ info: CURLINFO) -> Int {
        var value = 0
        return numberd_curl_easy_getinfo_long(easy, info, &value) == CURLE_OK ? value : 0
    }

    func infoOffset(_ info: CURLINFO) -> curl_off_t {
        var value: curl_off_t = 0
        return numberd_curl_easy_getinfo_off_t(easy, info, &value) == CURLE_OK ? value : 0
    }
}

extension HTTPVersion {
    /// From libcurl's `CURLINFO_HTTP_VERSION` (a `CURL_HTTP_VERSION_*` value).
    init(curlValue: Int) {
        switch curlValue {
        case Int(CURL_HTTP_VERSION_1_0): self = .http1_0
        case Int(CURL_HTTP_VERSION_1_1): self = .http1_1
        case Int(CURL_HTTP_VERSION_2_0): self = .http2
        case Int(CURL_HTTP_VERSION_3): self = .http3
        default: self = .unknown
        }
    }
}
