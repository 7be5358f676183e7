import Foundation
import NumberAPI
import NumberClient
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// numberd as its own process, over TLS, when its journal cannot grow: the kernel's own refusal, through the file size
/// limit (`RLIMIT_FSIZE`, set on the running process with util-linux's `prlimit`): the write that crosses it is
/// short, the next one `EFBIG` (and `SIGXFSZ`, which numberd ignores; the journal's writer thread, a dispatch worker,
/// also blocks it). It used to stop numberd (fail-stop) like any failed write. A client
/// gets `RESOURCE_EXHAUSTED` / `STORE_FULL` and nothing changes, reads go on, the process keeps serving, and once
/// the limit is lifted writes resume without a restart; `numberd verify` then finds the directory sound.
@Suite("numberd end to end: a journal that cannot grow refuses writes and keeps serving", .serialized)
struct StoreFullProcessTests {
    @Test("AddFunds refused with STORE_FULL at the file size limit; reads served; resumed once lifted; verify sound")
    func fileSizeLimit() async throws {
        let child = try ServingChild(arguments: ["--log-level", "error"])
        try await child.waitUntilServing()
        try await withNumbersClient(try Self.client(of: child)) { client in
            let account = try await client.createAccount(CreateAccountRequest(name: "Full", currency: "USD")).account
            let funds = AddFundsRequest(accountId: account.id, amount: 10_000, currency: "USD")
            _ = try await client.addFunds(funds, options: CallOptions(idempotencyKey: "first"))

            // No file may grow past 64 bytes, less than a record: the write into the open segment is refused, and
            // so is the second try in a new segment (cut short at 64 bytes, then refused).
            let segment = try Self.openSegment(child.dataDirectory + "/store")
            try await Self.setFileSizeLimit(of: child.process.processIdentifier, to: "64")
            let more = AddFundsRequest(accountId: account.id, amount: 500, currency: "USD")
            let refused = await #expect(throws: RPCError.self) {
                _ = try await client.addFunds(more, options: CallOptions(idempotencyKey: "second"))
            }
            #expect(
                refused?.code == .resourceExhausted && refused?.reason == "STORE_FULL", "\(String(describing: refused))"
            )
            #expect(child.process.isRunning, "no room is no fail-stop")
            #expect(try await client.getBalance(GetBalanceRequest(accountId: account.id)).balance == 10_000)
            let listed = try await client.listTransactions(ListTransactionsRequest(accountId: account.id))
            #expect(listed.transactions.count == 1)
            let cut = try FileManager.default.attributesOfItem(atPath: child.dataDirectory + "/store/" + segment.name)
            #expect(cut[.size] as? Int == segment.size, "the short write was cut off")
            // At a file size limit the journal tried a new segment, cut back to nothing too.
            let next = try Self.openSegment(child.dataDirectory + "/store")
            #expect(next.name != segment.name && next.size == 0, "\(next)")

            // Lifted: after the pause (1 s by default) the same request, under the same key, is carried out.
            try await Self.setFileSizeLimit(of: child.process.processIdentifier, to: "unlimited")
            try await Task.sleep(for: .milliseconds(1_200))
            let added = try await client.addFunds(more, options: CallOptions(idempotencyKey: "second"))
            #expect(added.balance == 10_500)
        }
        #expect(child.process.isRunning)
        let directory = child.dataDirectory
        // Stopped first (a clean stop writes a snapshot), then checked offline as an operator would.
        child.process.send(SIGTERM)
        let status = await ChildExit.wait(child.process, timeout: .seconds(60))
        #expect(status == .exited(0), "a clean stop: \(String(describing: status))")
        let verify = try await ChildProcess.run(try BuiltProduct.path("numberd"), ["verify", "--data-dir", directory])
        #expect(verify.status == 0, "\(String(decoding: verify.output, as: UTF8.self))")
        await child.stop()
    }

    @Test("numberd restarted with no room to write any file starts, serves reads, and refuses writes with STORE_FULL")
    func restartWithoutRoom() async throws {
        let first = try ServingChild(arguments: ["--log-level", "error"])
        defer { try? FileManager.default.removeItem(atPath: first.dataDirectory) }
        try await first.waitUntilServing()
        let account = try await withNumbersClient(try Self.client(of: first)) { client in
            let account = try await client.createAccount(CreateAccountRequest(name: "Kept", currency: "USD")).account
            let funds = AddFundsRequest(accountId: account.id, amount: 2_500, currency: "USD")
            _ = try await client.addFunds(funds, options: CallOptions(idempotencyKey: "funds"))
            return account
        }
        first.process.send(SIGTERM)
        #expect(await ChildExit.wait(first.process, timeout: .seconds(60)) == .exited(0))

        // The same data directory, no file may grow at all (`ulimit -f 0`): the start's own writes (its snapshot, the
        // clock mark, the downtimes) are refused and tolerated.
        let second = try ServingChild(
            arguments: ["--log-level", "error"], dataDirectory: first.dataDirectory, fileSizeLimitBlocks: 0)
        try await second.waitUntilServing()
        try await withNumbersClient(try Self.client(of: second)) { client in
            let balance = try await client.getBalance(GetBalanceRequest(accountId: account.id)).balance
            #expect(balance == 2_500)
            let refused = await #expect(throws: RPCError.self) {
                _ = try await client.createAccount(CreateAccountRequest(name: "New", currency: "USD"))
            }
            #expect(
                refused?.code == .resourceExhausted && refused?.reason == "STORE_FULL", "\(String(describing: refused))"
            )
            let accounts = try await client.listAccounts(ListAccountsRequest()).accounts
            #expect(accounts.map(\.id) == [account.id])
        }
        #expect(second.process.isRunning)
        await second.stop()
    }

    /// A client of `child` with its admin key, trusting its CA, one attempt per call.
    static func client(of child: ServingChild) throws -> NumbersClientConfiguration {
        let port = try #require(Self.port(in: child.standardOutput), "\(child.standardOutput)")
        let adminKey = try String(contentsOfFile: child.dataDirectory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: port, apiKey: adminKey,
            trustRoots: .file(child.dataDirectory + "/tls/ca.pem"), connectTimeout: .seconds(60), retry: .none)
        configuration.handshakeTimeout = .seconds(60)
        return configuration
    }

    /// The port of `numberd: serving nrpc/1 over TLS on 127.0.0.1:PORT; …`.
    static func port(in output: String) -> Int? {
        guard let range = output.range(of: "over TLS on 127.0.0.1:") else { return nil }
        return Int(output[range.upperBound...].prefix { $0.isNumber })
    }

    /// The journal's newest segment: its name and size.
    static func openSegment(_ store: String) throws -> Segment {
        let name = try #require(
            try FileManager.default.contentsOfDirectory(atPath: store)
                .filter { $0.hasPrefix("journal-") && $0.hasSuffix(".jsonl") }.max())
        let size = try FileManager.default.attributesOfItem(atPath: store + "/" + name)[.size] as? Int ?? -1
        return Segment(name: name, size: size)
    }

    struct Segment: Equatable {
        var name: String
        var size: Int
    }

    /// Sets the soft `RLIMIT_FSIZE` of a running process (bytes, or `unlimited`) with `prlimit(1)`; the hard limit stays
    /// (raising it back would need `CAP_SYS_RESOURCE`, which a container's root may not have).
    static func setFileSizeLimit(of pid: Int32, to limit: String) async throws {
        let result = try await ChildProcess.run("/usr/bin/prlimit", ["--pid", "\(pid)", "--fsize=\(limit):"])
        #expect(result.status == 0, "prlimit: \(String(decoding: result.output, as: UTF8.self))")
    }
}
