import CurlHTTP
import Foundation
import Testing

/// What the test server's `/echo` saw.
struct Echo: Decodable {
    let method: String
    let path: String
    let query: String
    let headers: [String: String]
    let body: String
    /// The ALPN protocol the server's TLS selected (nil: the client offered none).
    let alpn: String?

    var bodyBytes: [UInt8] { Array(Data(base64Encoded: body) ?? Data()) }

    static func decode(_ response: HTTPResponse) throws -> Echo {
        try JSONDecoder().decode(Echo.self, from: Data(response.body))
    }
}

/// Runs `operation`, which must fail with `code`, and returns the error.
@discardableResult
func expectFailure(
    _ code: HTTPClientError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ operation: () async throws -> HTTPResponse
) async -> HTTPClientError? {
    do {
        let response = try await operation()
        Issue.record("expected \(code), got status \(response.status)", sourceLocation: sourceLocation)
        return nil
    } catch let error as HTTPClientError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected HTTPClientError \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
