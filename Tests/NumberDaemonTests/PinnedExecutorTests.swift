import NumberAPI
import NumberClient
import Testing

/// Calls made from tasks that prefer a connection's event loop (`EventLoopTaskExecutor`) run there and behave like
/// any other call, concurrently and after a reconnect.
@Suite("Calls on the connection's event loop")
struct PinnedExecutorTests {
    @Test("64 concurrent calls from tasks pinned to the event loop all succeed on that loop")
    func pinnedCalls() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let account = try await makeAccount(admin, name: "pinned", funds: 12_345)
                let executor = try await admin.preferredTaskExecutor()
                let results = try await withThrowingTaskGroup(of: (Int64, Bool).self) { group in
                    for _ in 0..<64 {
                        group.addTask(executorPreference: executor) {
                            let balance = try await admin.getBalance(GetBalanceRequest(accountId: account.id))
                            return (balance.balance, executor.eventLoop.inEventLoop)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.count == 64)
                #expect(results.allSatisfy { $0.0 == 12_345 })
                #expect(results.allSatisfy { $0.1 }, "a pinned task resumed off its event loop")
            }
        }
    }

    @Test("a pinned caller sees a server error as an RPCError")
    func pinnedErrors() async throws {
        try await withNumberd { numberd in
            try await withNumbersClient(numberd.client()) { admin in
                let executor = try await admin.preferredTaskExecutor()
                _ = await withTaskExecutorPreference(executor) {
                    await #expect(throws: RPCError.self) {
                        _ = try await admin.getBalance(GetBalanceRequest(accountId: "ACC_nobody"))
                    }
                }
            }
        }
    }
}
