extension HTTPRequest {
    /// Rejects what libcurl would misread or a server could be tricked by: a non-HTTPS URL, control characters
    /// (header injection), a body over `requestBodyLengthMax`, a non-positive timeout.
    func validate(limits: HTTPClientConfiguration.Limits) throws(HTTPClientError) {
        guard url.lowercased().hasPrefix("https://"), url.utf8.count > "https://".utf8.count else {
            throw invalid("the URL must be an absolute https:// URL")
        }
        guard !url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw invalid("the URL contains a space or control character; percent-encode it")
        }
        for header in headers {
            guard !header.name.isEmpty, header.name.utf8.allSatisfy(Self.isTokenByte) else {
                throw invalid("header name \"\(header.name)\" is not an HTTP token")
            }
            guard !header.value.utf8.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else {
                throw invalid("header \(header.name) has a control character in its value")
            }
        }
        if let body, body.count > limits.requestBodyLengthMax {
            throw invalid("the body has \(body.count) bytes, over requestBodyLengthMax \(limits.requestBodyLengthMax)")
        }
        if let timeoutMilliseconds, timeoutMilliseconds <= 0 {
            throw invalid("timeoutMilliseconds must be positive, got \(timeoutMilliseconds)")
        }
        if let basicAuth, basicAuth.username.utf8.contains(0) || basicAuth.password.utf8.contains(0) {
            throw invalid("Basic credentials contain a NUL byte")
        }
    }

    private func invalid(_ message: String) -> HTTPClientError {
        HTTPClientError(code: .invalidRequest, message: message, requestMayHaveBeenSent: false)
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}
