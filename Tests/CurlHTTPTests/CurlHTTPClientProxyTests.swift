import CurlHTTP
import Foundation
import Testing

/// A review: a request that failed at the proxy was reported as possibly sent, because libcurl's
/// `CURLINFO_REQUEST_SIZE` counts the CONNECT request sent to the proxy. Every purchase through a proxy that refused
/// the tunnel, or opened one that stayed silent, became an unknown outcome though nothing left the machine.
@Suite("CurlHTTPClient through an HTTP proxy")
struct CurlHTTPClientProxyTests {
    /// Never resolved here: through a proxy, the proxy is asked to reach it.
    static let target = "https://api.twilio.invalid/2010-04-01/Accounts/AC1/IncomingPhoneNumbers.json"

    /// The proxy set explicitly (so no proxy variable or NO_PROXY of the test's environment applies), a short connect
    /// timeout and a long total one.
    static func configuration(_ proxy: FakeProxy) -> HTTPClientConfiguration {
        var configuration = HTTPClientConfiguration.defaults
        configuration.proxy = proxy.url
        configuration.timeouts.connectMilliseconds = 500
        configuration.timeouts.totalMilliseconds = 120_000
        return configuration
    }

    @Test("a POST whose tunnel the proxy refuses with 407 fails as not sent, naming the proxy's answer")
    func proxyRefusingTheTunnel() async throws {
        try await withFakeProxy(.refusing) { proxy in
            try await withCurlHTTPClient(configuration: Self.configuration(proxy)) { client in
                let error = await expectFailure(.connect) {
                    try await client.execute(HTTPRequest(method: .post, url: Self.target, body: [1]))
                }
                #expect(error?.requestMayHaveBeenSent == false, "\(String(describing: error))")
                #expect(error?.message.contains("proxy refused the tunnel") == true, "\(String(describing: error))")
                #expect(error?.message.contains("407") == true, "\(String(describing: error))")
            }
            #expect(proxy.requestLines == ["CONNECT api.twilio.invalid:443 HTTP/1.1"], "\(proxy.requestLines)")
        }
    }

    @Test("a POST whose tunnel the proxy opens and then leaves silent times out connecting, as not sent")
    func silentTunnel() async throws {
        try await withFakeProxy(.silent) { proxy in
            try await withCurlHTTPClient(configuration: Self.configuration(proxy)) { client in
                let started = ContinuousClock.now
                let error = await expectFailure(.timeout) {
                    try await client.execute(HTTPRequest(method: .post, url: Self.target, body: [1]))
                }
                #expect(error?.requestMayHaveBeenSent == false, "\(String(describing: error))")
                #expect(error?.message.contains("timed out connecting") == true, "\(String(describing: error))")
                // The connect timeout ended it, not the 120 s total one (generous: a loaded CI machine is slow).
                #expect(ContinuousClock.now - started < .seconds(60))
            }
            #expect(proxy.requestLines == ["CONNECT api.twilio.invalid:443 HTTP/1.1"], "\(proxy.requestLines)")
        }
    }
}
