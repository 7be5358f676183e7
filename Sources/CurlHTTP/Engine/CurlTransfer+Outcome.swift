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
        // Sent only if libcurl was about to send it, as the engine judges elsewhere (``CurlLoop``): the pre-request
        // callback (``prereqCallback``) runs in libcurl's DO step, which every attempt passes before it writes a
        // byte of the request — after the name lookup, the TCP connect, a proxy's CONNECT tunnel and the TLS
        // handshake —, and each of libcurl's own re-sends (a reused connection found dead, on sending or before any
        // answer) goes back through CONNECT and DO, so it runs again. Once it ran, any later failure may follow a sent
        // request, even a connect or TLS failure of such a re-send that never reached its own send. libcurl's
        // counters are no such proof: through an HTTP proxy `CURLINFO_REQUEST_SIZE` counts the CONNECT request, so a
        // proxy's 407 or a tunnel that stayed silent read as "may have been sent" — every purchase an unknown outcome
        // — though nothing of the request left the machine.
        let sent = sendAttempts > 0
        let detail = errorMessage.isEmpty ? String(cString: curl_easy_strerror(code)) : errorMessage
        let (kind, summary) = classify(code, sent: sent)
        return HTTPClientError(
            code: kind,
            message: "\(summary) (\(job.request.method.rawValue) \(hostAndPath)): \(detail)",
            requestMayHaveBeenSent: sent,
            curlCode: Int(code.rawValue)
        )
    }

    private func classify(_ code: CURLcode, sent: Bool) -> (HTTPClientError.Code, String) {
        if code == CURLE_ABORTED_BY_CALLBACK && sendAttempts > 1 {
            return (.connectionLost, "connection lost before any answer; not sent again")
        }
        // A proxy that answered the CONNECT with an error (407: it wants credentials; 403: it will not reach the
        // host) refused the tunnel: libcurl reports it as a receive error, which reads as a lost connection.
        let proxyStatus = infoLong(CURLINFO_HTTP_CONNECTCODE)
        if !sent && proxyStatus >= 300 {
            return (.connect, "the proxy refused the tunnel to the server with HTTP \(proxyStatus) (check the proxy)")
        }
        switch code {
        case CURLE_WRITE_ERROR where overflow == .body, CURLE_FILESIZE_EXCEEDED:
            return (.responseTooLarge, "response body larger than responseBodyLengthMax")
        case CURLE_WRITE_ERROR where overflow == .headers:
            return (.responseTooLarge, "response headers larger than responseHeadersLengthMax")
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return (.dnsResolution, "host name did not resolve")
        case CURLE_COULDNT_CONNECT:
            return (.connect, "could not connect")
        case CURLE_PEER_FAILED_VERIFICATION:
            return (.tlsVerification, "server certificate not trusted (\(verifyResultText))")
        case CURLE_SSL_CONNECT_ERROR:
            return (.tlsHandshake, "TLS handshake failed")
        case CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ISSUER_ERROR,
            CURLE_SSL_CRL_BADFILE, CURLE_SSL_ENGINE_INITFAILED:
            return (.tlsConfiguration, "the client's TLS setup could not be used")
        case CURLE_OPERATION_TIMEDOUT:
            return (.timeout, sent ? "timed out waiting for the response" : "timed out connecting")
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            return (.connectionLost, "connection lost")
        case CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT:
            return (.invalidRequest, "request rejected before sending")
        // The URL was checked to be https:// before queueing, so "unsupported protocol" means an HTTP/0.9 reply.
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM,
            CURLE_BAD_CONTENT_ENCODING,
            CURLE_RANGE_ERROR:
            return (.protocolError, "invalid HTTP response")
        default:
            return (.internalError, "transfer failed")
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
