import CurlHTTP
import Testing
import TwilioSimulator

@testable import NumberCore

@Suite("Twilio error mapping")
struct TwilioErrorMappingTests {
    @Test(arguments: [
        (400, 21422, ProviderError.Kind.numberUnavailable), (400, 21452, .numberUnavailable),
        (400, 21404, .misconfigured), (400, 21631, .numberUnavailable), (400, 21649, .misconfigured),
        (400, 21421, .invalidArgument), (400, 21451, .invalidArgument), (400, 21457, .invalidArgument),
        (400, 21481, .invalidArgument), (401, 20003, .authentication), (403, 20008, .authentication),
        (400, 20005, .authentication), (404, 20404, .notFound), (400, 99999, .invalidArgument),
        (409, 0, .misconfigured), (301, 21421, .misconfigured), (400, 10001, .misconfigured),
        (403, 10001, .misconfigured), (400, 10002, .misconfigured),
    ])
    func codesMapToKinds(status: Int, code: Int, kind: ProviderError.Kind) throws {
        let body = try #require(
            TwilioResources.decode(
                TwilioResources.ErrorBody.self,
                from: Array(#"{"code": \#(code), "message": "m", "status": \#(status)}"#.utf8)))
        let error = TwilioErrorMapping.clientError(status: status, body: body, operation: "op")
        #expect(error.kind == kind)
        #expect(error.providerCode == code)
    }

    /// 21404 says the account is a trial account, which may own one number: every purchase fails until the operator
    /// upgrades it, so the customer is told the provider is misconfigured, not that this number is unavailable (which
    /// invites buying another, failing the same way).
    @Test func trialAccountLimitIsTheOperatorsProblem() throws {
        let body = try #require(
            TwilioResources.decode(
                TwilioResources.ErrorBody.self,
                from: Array(
                    #"{"code": 21404, "message": "Trial accounts are allowed only one Twilio number.", "status": 400}"#
                        .utf8)))
        let error = TwilioErrorMapping.clientError(status: 400, body: body, operation: "buy +14155550100")
        #expect(error.kind == .misconfigured)
        #expect(error.message.contains("trial account"), "\(error)")
        #expect(!error.mayStillTakeEffect)
        #expect(NumberError.fromProvider(error).reason == .providerMisconfigured)
    }

    /// The simulator review: 10001 (the account not active: suspended, or out of funds) and 10002 (a trial account)
    /// fell through to INVALID_ARGUMENT, which a customer reads as their own mistake.
    @Test func inactiveAccountIsTheOperatorsProblem() throws {
        for (code, words) in [(10001, "not active (suspended, or out of funds)"), (10002, "trial account")] {
            let body = try #require(
                TwilioResources.decode(
                    TwilioResources.ErrorBody.self,
                    from: Array(#"{"code": \#(code), "message": "Account not active", "status": 400}"#.utf8)))
            let error = TwilioErrorMapping.clientError(status: 400, body: body, operation: "buy +14155550100")
            #expect(error.kind == .misconfigured && error.message.contains(words), "\(error)")
            #expect(NumberError.fromProvider(error).reason == .providerMisconfigured)
        }
    }

    /// Without Twilio's error code only 401 and 403 say something (the credentials). Any other status — a redirect
    /// (never followed), a 405, a bare 400 from a proxy — is not Twilio refusing a parameter, so it is not the
    /// customer's INVALID_ARGUMENT but the operator's setup (a bare 400 was `.invalidArgument` before).
    @Test(arguments: [301, 302, 307, 308, 400, 405, 409, 410, 413, 418, 422])
    func statusAloneDecidesWithoutABody(status: Int) {
        #expect(TwilioErrorMapping.clientError(status: 401, body: nil, operation: "op").kind == .authentication)
        #expect(TwilioErrorMapping.clientError(status: 403, body: nil, operation: "op").kind == .authentication)
        let error = TwilioErrorMapping.clientError(status: status, body: nil, operation: "op")
        #expect(error.kind == .misconfigured, "\(status)")
        #expect(error.message.contains("HTTP \(status) is not Twilio's answer"), "\(error)")
        #expect(!error.mayStillTakeEffect)
        let proxyPage = TwilioResources.decode(
            TwilioResources.ErrorBody.self, from: Array(#"{"message": "Method Not Allowed"}"#.utf8))
        let withMessage = TwilioErrorMapping.clientError(status: status, body: proxyPage, operation: "op")
        #expect(withMessage.kind == .misconfigured)
        #expect(withMessage.message.contains("HTTP \(status) \"Method Not Allowed\" is not Twilio's"), "\(withMessage)")
    }

    /// A redirect answered to a POST came from something in front of Twilio that may have passed the request on: the
    /// purchase saga must look the number up (`mayStillTakeEffect`) rather than void it as not bought; to a GET or a
    /// 4xx it says nothing of the kind.
    @Test(arguments: [301, 302, 303, 307, 308])
    func aRedirectToAPostMayHaveActed(status: Int) {
        let post = TwilioErrorMapping.clientError(status: status, body: nil, operation: "buy", method: .post)
        #expect(post.kind == .misconfigured && post.mayStillTakeEffect)
        #expect(NumberService.mayHaveHappened(post))
        #expect(!TwilioErrorMapping.clientError(status: status, body: nil, operation: "look up").mayStillTakeEffect)
        #expect(
            !TwilioErrorMapping.clientError(status: 405, body: nil, operation: "buy", method: .post).mayStillTakeEffect)
        // Nor may a DELETE's: the release must look before it concludes that nothing was released.
        #expect(
            TwilioErrorMapping.clientError(status: status, body: nil, operation: "release", method: .delete)
                .mayStillTakeEffect)
    }

    /// A proxy's JSON with a small `code` of its own (an HTTP status) is not Twilio's five-digit error code.
    @Test func aProxysOwnCodeIsNotTwilios() {
        let proxy = TwilioResources.decode(
            TwilioResources.ErrorBody.self, from: Array(#"{"code": 405, "message": "Method Not Allowed"}"#.utf8))
        #expect(TwilioErrorMapping.clientError(status: 405, body: proxy, operation: "op").kind == .misconfigured)
        let twilio = TwilioResources.decode(
            TwilioResources.ErrorBody.self, from: Array(#"{"code": 21421, "message": "bad number"}"#.utf8))
        #expect(TwilioErrorMapping.clientError(status: 400, body: twilio, operation: "op").kind == .invalidArgument)
        // Twilio's own 405 (20004, as the simulator answers it) is the adapter's method, not the customer's input.
        let methodNotAllowed = TwilioResources.decode(
            TwilioResources.ErrorBody.self, from: Array(#"{"code": 20004, "message": "Method not allowed"}"#.utf8))
        let error = TwilioErrorMapping.clientError(status: 405, body: methodNotAllowed, operation: "op")
        #expect(error.kind == .misconfigured && error.providerCode == 20004)
    }

    /// Only Twilio's own 404 (its 20404 body) says a resource does not exist: a release takes it as done. A proxy's or
    /// web server's 404 (an HTML page, another JSON) says nothing about the number.
    @Test(arguments: [
        ("<html><body>404 Not Found</body></html>", ProviderError.Kind.misconfigured),
        (#"{"error": "no such path"}"#, .misconfigured), (#"{"code": 20003, "status": 404}"#, .authentication),
        (#"{"code": 20404, "message": "The requested resource was not found", "status": 404}"#, .notFound),
    ])
    func only20404IsNotFound(body: String, kind: ProviderError.Kind) {
        let decoded = TwilioResources.decode(TwilioResources.ErrorBody.self, from: Array(body.utf8))
        #expect(TwilioErrorMapping.clientError(status: 404, body: decoded, operation: "op").kind == kind)
        #expect(TwilioErrorMapping.clientError(status: 404, body: nil, operation: "op").kind == .misconfigured)
    }

    @Test(arguments: [
        (HTTPClientError.Code.timeout, true, HTTPMethod.post, ProviderError.Kind.outcomeUnknown),
        (.connectionLost, true, .post, .outcomeUnknown), (.cancelled, true, .post, .outcomeUnknown),
        (.connect, false, .post, .unavailable), (.timeout, true, .get, .unavailable),
        (.tlsVerification, false, .get, .unavailable), (.invalidRequest, false, .post, .misconfigured),
        (.tlsHandshake, false, .post, .unavailable), (.tlsConfiguration, false, .get, .misconfigured),
        (.invalidRequest, false, .get, .misconfigured),
        (.responseTooLarge, true, .post, .outcomeUnknown), (.responseTooLarge, true, .get, .unavailable),
    ])
    func transportFailuresMapByMethodAndWhetherSent(
        code: HTTPClientError.Code, sent: Bool, method: HTTPMethod, kind: ProviderError.Kind
    ) {
        let failure = HTTPClientError(code: code, message: "m", requestMayHaveBeenSent: sent)
        #expect(TwilioErrorMapping.transportError(failure, method: method, operation: "op").kind == kind)
    }

    /// A handshake cut short (a reset in the middle of it: nothing sent) is tried again, a POST's too; numberd's own
    /// TLS setup refused (its CA file) or a certificate not trusted is not: another attempt fails the same way.
    @Test func aHandshakeCutShortIsRetried() {
        #expect(
            TwilioErrorMapping.isRetryable(
                HTTPClientError(code: .tlsHandshake, message: "reset", requestMayHaveBeenSent: false)))
        #expect(
            !TwilioErrorMapping.isRetryable(
                HTTPClientError(code: .tlsConfiguration, message: "no CA file", requestMayHaveBeenSent: false)))
        #expect(
            !TwilioErrorMapping.isRetryable(
                HTTPClientError(code: .tlsVerification, message: "untrusted", requestMayHaveBeenSent: false)))
    }

    @Test func addressRequirementAtPurchaseIsNumberUnavailable() async throws {
        try await withTwilio { twilio in
            // Searches never offer such a number (below); one named directly is refused as Twilio refuses it.
            let number = try #require(
                twilio.engine.availableNumbers(country: "GB", type: .local, limit: 1).first)
            let error = await expectProviderError(.numberUnavailable) {
                try await twilio.provider.buy(phoneNumber: number.phoneNumber, trunkSid: nil)
            }
            #expect(error?.providerCode == 21631)
        }
    }

    @Test func searchesExcludeNumbersThatNeedAnAddress() async throws {
        try await withTwilio { twilio in
            // GB local and mobile numbers all need an Address at the simulator (as most do at Twilio): none offered.
            for type in [NumberCore.NumberType.local, .mobile] {
                let offered = try await twilio.provider.search(ProviderSearchQuery(country: "GB", type: type))
                #expect(offered.isEmpty, "\(type)")
            }
            // GB toll-free numbers need none; US local numbers neither.
            let tollFree = try await twilio.provider.search(ProviderSearchQuery(country: "GB", type: .tollFree))
            let local = try await twilio.provider.search(ProviderSearchQuery(country: "US"))
            #expect(!tollFree.isEmpty && !local.isEmpty)
        }
    }

    @Test func aListedNumberThatNeedsAnAddressIsNotOffered() throws {
        // Should Twilio list such numbers despite ExcludeAllAddressRequired, they are dropped like malformed ones.
        let body = """
            {"available_phone_numbers": [
              {"phone_number": "+442071838750", "address_requirements": "any"},
              {"phone_number": "+18005550100", "address_requirements": "none"},
              {"phone_number": "+14155550100"},
              {"phone_number": "+442071838751", "address_requirements": "Local"},
              {"phone_number": "not a number", "address_requirements": "none"}
            ]}
            """
        let page = try #require(TwilioResources.decode(TwilioResources.AvailablePage.self, from: Array(body.utf8)))
        let offered = TwilioProvider.offered(page, query: ProviderSearchQuery(country: "GB"), country: "GB")
        #expect(offered.map(\.phoneNumber) == ["+18005550100", "+14155550100"])
    }
}
