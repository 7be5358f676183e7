import NIOCore
import NumberAPI
import Testing

@testable import NumberClient

/// A keyed call whose first attempt ends with its outcome open — sent, then its deadline passed, its task was
/// cancelled, or the server said `OUTCOME_UNKNOWN` — names its idempotency key (`outcome=unknown`), so a caller
/// that let the client make the key can still ask again under it. A call never sent claims no unknown outcome.
extension KeyedRetryTests {
    /// Checks `error` has `code` and carries `outcome=unknown` with `key`.
    static func expectKeyed(
        _ error: RPCError?, code: StatusCode, key: String?, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.details["outcome"] == "unknown", "\(String(describing: error))", sourceLocation: sourceLocation)
        #expect(
            key != nil && error?.details["idempotencyKey"] == key, "\(String(describing: error))",
            sourceLocation: sourceLocation)
    }

    @Test(
        "a keyed call the server never answers: DEADLINE_EXCEEDED names the key it was sent with",
        arguments: [nil, "key-given"])
    func neverAnswered(givenKey: String?) async throws {
        let server = try await FakeNumbersServer.start { _, _ in .never }
        let client = Self.client(port: server.port, retry: Self.quickRetries(), timeout: .seconds(60))
        // Connected first: the call's deadline counts from its start, and a connect slowed down by a loaded machine
        // would end it unsent (DEADLINE_EXCEEDED, outcome not-started), which is not what this test is about. (300 ms
        // were seen to pass before the request was written with three builds beside the test run, and over a second
        // in a full run of the fifteenth session's 978 tests; a starved process gets no CPU for up to 50 s, hence a
        // deadline of 60 s, which the test waits out.)
        _ = try await client.preferredTaskExecutor()
        let error = await #expect(throws: RPCError.self) {
            try await client.purchaseNumbers(Self.purchase, options: CallOptions(idempotencyKey: givenKey))
        }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 1)
        let sent = server.calls.first?.metadata["idempotency-key"]
        if let givenKey { #expect(sent == givenKey) }
        Self.expectKeyed(error, code: .deadlineExceeded, key: sent)
    }

    @Test("a keyed call cancelled after it was sent: CANCELLED names the key")
    func cancelledAfterSent() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .never }
        let client = Self.client(port: server.port, retry: Self.quickRetries())
        let call = Task { try await client.addFunds(AddFundsRequest(amount: 100)) }
        while server.calls.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        call.cancel()
        let result = await call.result
        await client.close()
        await server.stop()
        guard case .failure(let failure) = result else {
            Issue.record("the cancelled call succeeded")
            return
        }
        Self.expectKeyed(failure as? RPCError, code: .cancelled, key: server.calls.first?.metadata["idempotency-key"])
    }

    @Test("the server answers UNAVAILABLE / OUTCOME_UNKNOWN: the error names the key, the server's details stay")
    func serverSaysOutcomeUnknown() async throws {
        let server = try await FakeNumbersServer.start { _, _ in
            .status(
                RpcStatus(
                    code: StatusCode.unavailable.rawValue, message: "the provider's answer was lost",
                    reason: "OUTCOME_UNKNOWN", metadata: ["number": "+14155550100"]))
        }
        let client = Self.client(port: server.port, retry: Self.quickRetries())
        let error = await #expect(throws: RPCError.self) { try await client.purchaseNumbers(Self.purchase) }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 1, "a status is final: not retried")
        Self.expectKeyed(error, code: .unavailable, key: server.calls.first?.metadata["idempotency-key"])
        #expect(error?.reason == "OUTCOME_UNKNOWN")
        #expect(error?.details["number"] == "+14155550100")
    }

    @Test("a keyed call's OK response that does not decode: MALFORMED_RESPONSE names the key")
    func malformedResponse() async throws {
        let server = try await FakeNumbersServer.start { _, _ in .response(ByteBuffer(bytes: [0xFF])) }
        let client = Self.client(port: server.port, retry: Self.quickRetries())
        let error = await #expect(throws: RPCError.self) { try await client.purchaseNumbers(Self.purchase) }
        await client.close()
        await server.stop()
        #expect(error?.reason == "MALFORMED_RESPONSE", "\(String(describing: error))")
        Self.expectKeyed(error, code: .internal, key: server.calls.first?.metadata["idempotency-key"])
    }

    @Test("a keyed call answered RESOURCE_EXHAUSTED / RESPONSE_TOO_LARGE (carried out, result unread) names the key")
    func responseTooLarge() async throws {
        // numberd sends it only in place of a handler's successful response: the purchase was made.
        let server = try await FakeNumbersServer.start { _, _ in
            .status(
                RpcStatus(
                    code: StatusCode.resourceExhausted.rawValue,
                    message: "the response exceeds the client's message size limit", reason: "RESPONSE_TOO_LARGE"))
        }
        let client = Self.client(port: server.port, retry: Self.quickRetries())
        let error = await #expect(throws: RPCError.self) { try await client.purchaseNumbers(Self.purchase) }
        await client.close()
        await server.stop()
        #expect(server.calls.count == 1, "a status is final: not retried")
        #expect(error?.reason == "RESPONSE_TOO_LARGE", "\(String(describing: error))")
        Self.expectKeyed(error, code: .resourceExhausted, key: server.calls.first?.metadata["idempotency-key"])
    }

    @Test(
        "a first attempt's answer names the key only when it leaves the outcome open",
        arguments: [
            (StatusCode.deadlineExceeded, "DEADLINE_EXCEEDED", [:], true), (.cancelled, "CANCELLED", [:], true),
            (.unavailable, "OUTCOME_UNKNOWN", [:], true), (.aborted, "REQUEST_IN_PROGRESS", [:], true),
            (.unavailable, "STORE_FAILED", [:], true),
            (.internal, "INTERNAL", [:], true), (.unknown, "UNKNOWN", [:], true),
            (.internal, "BACKUP_FAILED", ["requestId": "r-1"], false),
            (.resourceExhausted, "RESPONSE_TOO_LARGE", [:], true), (.resourceExhausted, "RATE_LIMITED", [:], false),
            (.deadlineExceeded, "DEADLINE_EXCEEDED", ["outcome": "not-started"], false),
            (.cancelled, "CANCELLED", ["outcome": "not-started"], false),
            (.unavailable, "PROVIDER_UNAVAILABLE", [:], false),
            (.failedPrecondition, "INSUFFICIENT_BALANCE", [:], false),
            (.resourceExhausted, "CLIENT_QUEUE_FULL", [:], false), (.aborted, "ABORTED", [:], false),
        ] as [(StatusCode, String, [String: String], Bool)])
    func firstAnswer(code: StatusCode, reason: String, details: [String: String], namesKey: Bool) {
        let answer = RPCError(code: code, message: "no", reason: reason, details: details)
        // RATE_LIMITED is tried again when the policy retries refusals for the moment (BusyRetryTests): not here.
        var policy = Self.quickRetries()
        policy.retriesWhenBusy = false
        var keyed = CallAttempts(retryClass: .keyed, idempotencyKey: "k", policy: policy)
        guard case .fail(let error) = keyed.failed(.status(answer)) else {
            Issue.record("a status was retried")
            return
        }
        #expect(error.code == code && error.reason == reason, "\(error)")
        if namesKey {
            #expect(error.details["outcome"] == "unknown" && error.details["idempotencyKey"] == "k", "\(error)")
        } else {
            #expect(error == answer)
        }
        // A call that is neither a read nor keyed has no key to name, but its outcome is open alike.
        var unkeyed = CallAttempts(retryClass: .unsafe, idempotencyKey: nil, policy: policy)
        guard case .fail(let plain) = unkeyed.failed(.status(answer)) else {
            Issue.record("a status was retried")
            return
        }
        var expected = answer
        if namesKey { expected.details["outcome"] = "unknown" }
        #expect(plain == expected)
        #expect(plain.details["idempotencyKey"] == nil)
        // A read changed nothing: its answer is thrown as it came.
        var read = CallAttempts(retryClass: .idempotent, idempotencyKey: nil, policy: policy)
        guard case .fail(let asItCame) = read.failed(.status(answer)) else {
            Issue.record("a status was retried")
            return
        }
        #expect(asItCame == answer)
    }

    @Test("a keyed call that could not connect claims no unknown outcome and names no key")
    func connectFailedFirst() {
        var attempts = CallAttempts(
            retryClass: .keyed, idempotencyKey: "k", policy: NumbersClientConfiguration.RetryPolicy.none)
        guard case .fail(let error) = attempts.failed(.connectFailed(message: "refused")) else {
            Issue.record("retried without attempts left")
            return
        }
        #expect(error.reason == "CONNECT_FAILED" && error.details.isEmpty, "\(error)")
        // Nothing was sent: a deadline or cancellation after it says so, and names no key.
        #expect(attempts.deadlinePassed().details == ["outcome": "not-started"])
        #expect(attempts.cancelled().details == ["outcome": "not-started"])
    }
}
