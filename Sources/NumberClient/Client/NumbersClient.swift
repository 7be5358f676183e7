import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberTLS
import NumberWire
import Synchronization

/// The Swift client of numberd: typed async methods for every RPC, many calls multiplexed per connection, a small
/// connection pool, deadlines, cancellation, reconnects, and retries only where they cannot do harm.
///
/// ```swift
/// let configuration = NumbersClientConfiguration(apiKey: key, trustRoots: .file(caPath))
/// let numbers = try await withNumbersClient(configuration) { client in
///     try await client.listNumbers(ListNumbersRequest(accountId: "ACC_…"))
/// }
/// ```
public final class NumbersClient: Sendable {
    /// Decodes the server's responses: bounded by the message size this client accepts, not by a count of fields —
    /// the default (``ProtoDecoder/Limits/fieldsMax``) guards a server against requests before authentication, and
    /// a page of an operator's raised `pageSizeMax` may hold more fields than that.
    static let responseDecoder = ProtoDecoder(limits: ProtoDecoder.Limits(fieldsMax: .max))

    private let configuration: NumbersClientConfiguration
    private let tls: TLSContext?
    private let sessionCache = TLSSessionCache()
    private let group: any EventLoopGroup
    private let pool = Mutex(Pool())
    /// `Bearer <apiKey>`, made once.
    private let authorization: String?
    /// Ends the backoffs of calls between attempts when the client closes.
    private let closing = CloseSignal()

    private struct Pool {
        /// The pool's connections until they end, those going away (a GOAWAY, or retired after `SHUTTING_DOWN`)
        /// included: they take no new calls, but `close()` must close them too, or their open calls would run on
        /// after it. A connection leaves once its channel is closed.
        var connections: [ClientConnection] = []
        /// The connection attempts under way: with the connections taking calls, at most `connectionPoolSize`.
        var attempts: [Attempt] = []
        /// The calls waiting, oldest first, each for an attempt of `attempts` and for room on any connection,
        /// whichever comes first: as many attempts are started as calls wait (within the pool's size), so a burst of
        /// calls at cold start or after a reconnect brings every connection up at once; and room, which often comes
        /// long before the connection being made (a connect, a TLS handshake and the server's SETTINGS, each up to its
        /// timeout), wakes the first in line, to pick again: a slot freed by a call ending
        /// (``NumbersClient/callEnded(on:)``), the slots of a connection come up beyond those the calls that waited
        /// for it take, those of a connection taking calls again after a PING.
        var waiters = RoomWaiters<Wait>()
        var next = 0
        var closed = false
        /// Connect attempts failed in a row (reset by one that succeeds), and until when no attempt starts while a
        /// connection takes calls (``NumbersClient/connectBackoff(failures:)``): against a numberd at its connection
        /// limits each attempt is accepted and closed, and without the pause every call would make one.
        var failures = 0
        var backoffUntil: NIODeadline?
        /// When the pool last saw a connection go away (closed, or taking no more calls after a GOAWAY): calls that
        /// then cannot connect wait for a restart (``ConnectError/afterServerWentAway``), though they saw nothing go
        /// away themselves — those started during a drain.
        var wentAway: NIODeadline?

        /// Whether another connection attempt may start, with `alive` connections taking calls: the pool's `size`
        /// leaves room and, while a connection takes calls, the backoff after failed attempts has passed. With none,
        /// a call connects whatever came before (its own retries back off), unless it `sawFailure`: the attempt it
        /// waited for failed, which it reports instead of making another.
        func mayConnect(alive: Int, size: Int, sawFailure: Bool) -> Bool {
            guard alive + attempts.count < size else { return false }
            if alive == 0 { return !sawFailure }
            guard let backoffUntil else { return true }
            return backoffUntil <= .now()
        }
    }

    /// A connection attempt under way.
    private struct Attempt {
        var future: EventLoopFuture<ClientConnection>
        /// What `close()` cuts it short with.
        var connectionAttempts: ConnectionAttempts
        /// The calls that waited for it, those still waiting woken when it ends. A call is listed once however often
        /// it waits for it again (woken for room that another call took first); calls no longer waiting for it stay
        /// listed until it ends, or until they outnumber the calls waiting and are swept.
        var waiters: [Waiter] = []
    }

    /// What the pool keeps of a call waiting in it (``Pool/waiters``), read and changed under its lock.
    private struct Wait {
        /// Ends the call's current wait: completed by whatever ends the wait first (room, its attempt, its deadline or
        /// cancellation), which takes the call out of line in the same hold of the pool's lock. A wake-up for room
        /// thus never goes to a call that has stopped waiting: the next call in line gets it.
        var promise: EventLoopPromise<Woken>
        /// The attempt on whose ``Attempt/waiters`` the call is listed (nil: none).
        var attempt: ConnectionAttempts?
    }

    /// A call's place among the pool's waiting calls, kept through its waits.
    private typealias Waiter = RoomWaiters<Wait>.Entry

    /// What woke a call waiting in the pool (its deadline, its cancellation and a failed attempt throw instead).
    private enum Woken {
        /// A slot freed, or a connection with room: the first calls in line are woken, to take it.
        case room
        /// The attempt it waited for made its connection.
        case attemptEnded
    }

    /// The first pause after a failed connect attempt during which a pool with a connection taking calls starts no
    /// other (100 ms); it doubles with each failure in a row up to ``connectBackoffMax``.
    static let connectBackoffInitial = TimeAmount.milliseconds(100)
    /// The longest such pause (30 s).
    static let connectBackoffMax = TimeAmount.seconds(30)

    /// Creates a client; connections open on first use. Throws
    /// ``NumbersClientConfiguration/ConfigurationError``, naming the field, for a configuration the client cannot work
    /// with (``NumbersClientConfiguration/validate()``): its fields are `var`s, set after its initializer checked
    /// them, and a bad one would otherwise fail every call with the wrong error, or trap at the first connect.
    public convenience init(
        configuration: NumbersClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        try configuration.validate()
        var tlsConfiguration = TLSConfiguration.client(trustRoots: configuration.trustRoots)
        tlsConfiguration.applicationProtocols = ["nrpc/1"]
        tlsConfiguration.handshakeTimeout = configuration.handshakeTimeout
        if let certificate = configuration.clientCertificate {
            tlsConfiguration.certificateChain = certificate.chain
            tlsConfiguration.privateKey = certificate.key
        }
        try self.init(configuration: configuration, tls: TLSContext(configuration: tlsConfiguration), group: group)
    }

    /// A client over a given TLS context, or without TLS (`nil`, protocol tests only).
    package init(configuration: NumbersClientConfiguration, tls: TLSContext?, group: any EventLoopGroup) {
        self.configuration = configuration
        self.tls = tls
        self.group = group
        self.authorization = configuration.apiKey.map { "Bearer \($0)" }
    }

    /// A client dropped without `close()` closes its connections here, without waiting: they would otherwise stay
    /// open until the server's idle timeout (300 s). No call can be running then (each holds the client), nor a
    /// connection attempt (it holds the client until its connection joins the pool). `close()` remains the way to
    /// close them and wait until they are closed.
    deinit {
        let connections = pool.withLock { pool in
            pool.closed = true
            return pool.connections
        }
        for connection in connections { connection.channel.close(promise: nil) }
    }

    /// The pool's connections that are up and not going away (tests wait on it to see a lost connection reach the
    /// client: a connection counts as gone only once its open calls have been failed).
    var liveConnectionCount: Int { pool.withLock { $0.connections.count { $0.status.isAlive } } }
    /// Calls waiting in the pool, for a connection being made or for room (tests wait on it to know a call found every
    /// connection full).
    var waitingCallCount: Int { pool.withLock { $0.waiters.count } }
    /// Tests only: run (then cleared) by the first call to wake from a wait in the pool, before it picks again — a
    /// call descheduled between its wake-up and its next pick, which other calls ending may come into.
    let wokenHook = Mutex<(@Sendable () async -> Void)?>(nil)

    /// Closes every connection, those going away included; calls in flight fail and later calls throw. A connection
    /// being made is cut short: the calls waiting for it fail `CLIENT_CLOSED` now, not after its connect, handshake
    /// and greeting time out; so do calls waiting out a backoff between attempts, not when it ends (a `retryAfterMs`
    /// can be many seconds).
    public func close() async {
        let (connections, attempts) = pool.withLock { pool in
            pool.closed = true
            defer { pool.connections.removeAll() }
            return (pool.connections, pool.attempts.map(\.connectionAttempts))
        }
        closing.close()
        for attempt in attempts { attempt.cancel() }
        for connection in connections { await connection.close() }
    }

    // MARK: Calls

    /// Calls `method` with `request`; throws `RPCError` for every failure (server status or transport). A request
    /// that sets a field the server predates (``APIRevision/guardedFields``, above the API revision of the server the
    /// call would go to) fails `FAILED_PRECONDITION` / `SERVER_TOO_OLD` without being sent: that server would skip the
    /// field and act without the guard it carries.
    public func call<Request, Response>(
        _ method: MethodDescriptor<Request, Response>, _ request: Request, options: CallOptions = CallOptions()
    ) async throws -> Response {
        var message = ByteBuffer()
        do {
            try ProtoEncoder().encode(request, into: &message)
        } catch {
            throw RPCError(
                code: .invalidArgument, message: "cannot encode \(Request.self): \(error)", reason: "ENCODING")
        }
        var metadata = options.metadata
        // The call's own `authorization` (a service acting for several accounts) wins over the client's key.
        if let authorization, metadata["authorization"] == nil { metadata["authorization"] = authorization }
        if let id = options.requestID { metadata["request-id"] = id }
        var retry = Self.retryClass(method.path)
        var idempotencyKey: String?
        // A key given in the metadata under its wire name (FRAMING.md) is the caller's key as much as one given in
        // `idempotencyKey`: replaced by a fresh one, every retry of theirs would be a new credit or purchase.
        let given = options.metadata["idempotency-key"]
        if retry == .unsafe, let key = options.idempotencyKey ?? given {
            // numberd keys none of these, so the key would be dropped: its caller, believing a call again under it
            // safe after an unknown outcome, would do the work twice. Refused before anything is sent.
            throw RPCError(
                code: .invalidArgument,
                message: "\(method.method) takes no idempotency key (\"\(key)\" given): numberd would ignore it, and "
                    + "a call again under it would be done twice; send it without one",
                reason: "IDEMPOTENCY_KEY_NOT_TAKEN", details: ["outcome": "not-started", "method": method.method])
        }
        if retry == .keyed, let given, let explicit = options.idempotencyKey, given != explicit {
            throw RPCError(
                code: .invalidArgument,
                message: "two idempotency keys for one call: CallOptions.idempotencyKey \"\(explicit)\" and the "
                    + "metadata's idempotency-key \"\(given)\"; give one",
                reason: "CONFLICTING_KEYS", details: ["outcome": "not-started"])
        }
        if retry == .keyed, let release = request as? ReleaseNumberRequest, release.dryRun {
            // A release's dry run changes nothing: retried as a read, under no key of its own; one the caller gives
            // goes along (the server answers it with the release made under it).
            retry = .idempotent
            if let key = options.idempotencyKey ?? given { metadata["idempotency-key"] = key }
        } else if retry == .keyed {
            idempotencyKey = options.idempotencyKey ?? given ?? Self.newIdempotencyKey()
            metadata["idempotency-key"] = idempotencyKey
        }
        let deadline = NIODeadline.now() + (options.timeout ?? configuration.defaultTimeout)
        let attempts = CallAttempts(
            retryClass: retry, idempotencyKey: idempotencyKey, policy: configuration.retry,
            doneEarlierReason: Self.doneEarlierReasons[method.path])
        let guardedFields = APIRevision.guardedFieldsSet(in: request)
        let payload = try await run(
            path: method.path, metadata: metadata, message: message, guardedFields: guardedFields, deadline: deadline,
            attempts)
        do {
            return try Self.responseDecoder.decode(Response.self, from: payload)
        } catch {
            var malformed = RPCError(
                code: .internal, message: "the server's \(Response.self) did not decode: \(error)",
                reason: "MALFORMED_RESPONSE")
            // Done at the server, yet unreadable here: a call that changes something says so (outcome unknown to
            // its caller), and a keyed one names its key, to ask again under it.
            if retry != .idempotent { malformed.details["outcome"] = "unknown" }
            if let idempotencyKey { malformed.details["idempotencyKey"] = idempotencyKey }
            throw malformed
        }
    }

    /// Methods that change nothing: retried after any transport failure.
    static let idempotentMethods: Set<String> = [
        NumbersMethods.searchNumbers.path, NumbersMethods.listNumbers.path, NumbersMethods.getNumber.path,
        NumbersMethods.getBalance.path, NumbersMethods.listTransactions.path, NumbersMethods.getStatement.path,
        NumbersMethods.listTrunks.path,
        NumbersMethods.getAccount.path, NumbersMethods.listAccounts.path, NumbersMethods.listApiKeys.path,
        NumbersMethods.healthCheck.path, NumbersMethods.getProviderAudit.path,
    ]
    /// Methods protected by an idempotency key: a retry returns the first result, so they are retried too.
    static let keyedMethods: Set<String> = [
        NumbersMethods.purchaseNumbers.path, NumbersMethods.addFunds.path, NumbersMethods.adjustBalance.path,
        NumbersMethods.releaseNumber.path, NumbersMethods.adoptNumber.path,
    ]

    /// What a numberd that does not key the method answers a repeat of an attempt it carried out (``CallAttempts``).
    private static let doneEarlierReasons: [String: String] = [
        NumbersMethods.releaseNumber.path: "ALREADY_RELEASED", NumbersMethods.adoptNumber.path: "NUMBER_UNAVAILABLE",
    ]

    enum RetryClass {
        /// Changes nothing: retried after any transport failure.
        case idempotent
        /// Carries an idempotency key: retried, the server answers a retry with the first result.
        case keyed
        /// Retried only when it never reached the server.
        case unsafe
    }

    /// The class of every method by path, looked up once per call (one hash instead of one per set).
    private static let retryClasses: [String: RetryClass] = Dictionary(
        uniqueKeysWithValues: idempotentMethods.map { ($0, .idempotent) } + keyedMethods.map { ($0, .keyed) })

    static func retryClass(_ path: String) -> RetryClass { retryClasses[path] ?? .unsafe }

    /// A new idempotency key: a random (version 4) UUID in lower case, as the client makes for a keyed call that
    /// brings none. A caller that may have to repeat a call after an unknown outcome (a CLI run again by hand)
    /// makes its key with this and keeps it. From the kernel's `getrandom` through `SystemRandomNumberGenerator`:
    /// Foundation's `UUID()` opens, reads and closes `/dev/urandom` every time, which costs three system calls and
    /// needs a free file descriptor.
    public static func newIdempotencyKey() -> String {
        var generator = SystemRandomNumberGenerator()
        var uuid = UUID(uuid: unsafeBitCast((generator.next() as UInt64, generator.next() as UInt64), to: uuid_t.self))
            .uuid
        uuid.6 = uuid.6 & 0x0f | 0x40  // version 4
        uuid.8 = uuid.8 & 0x3f | 0x80  // RFC 4122 variant
        return UUID(uuid: uuid).uuidString.lowercased()
    }

    /// Makes attempts of one call until one is answered or `attempts` says to stop, all within `deadline`: the
    /// instant fixed when the call started, which every wait (for a connection, a stream slot, the answer, a backoff)
    /// shares. Each attempt checks `guardedFields` against the server of the connection it goes out on.
    private func run(
        path: String, metadata: [String: String], message: ByteBuffer, guardedFields: [APIRevision.GuardedField],
        deadline: NIODeadline, _ attempts: CallAttempts
    ) async throws -> ByteBuffer {
        var attempts = attempts
        var headersBuffer = ByteBuffer()
        while true {
            guard deadline > .now() else { throw attempts.deadlinePassed() }
            let outcome: Result<ByteBuffer, CallAttempts.Failure>
            do {
                outcome = try await attempt(
                    path: path, metadata: metadata, headers: &headersBuffer, message: message,
                    guardedFields: guardedFields, deadline: deadline)
            } catch WaitEnded.deadline {
                throw attempts.deadlinePassed()
            } catch WaitEnded.cancelled {
                throw attempts.cancelled()
            } catch let closed as RPCError where closed.reason == "CLIENT_CLOSED" {
                // Closed while a keyed call retried an attempt that may have run: its outcome and key go with it.
                throw attempts.final(closed)
            }
            let failure: CallAttempts.Failure
            switch outcome {
            case .success(let payload): return payload
            case .failure(let failed): failure = failed
            }
            switch attempts.failed(failure) {
            case .fail(let error):
                throw error
            case .retry(let backoff, let otherwise):
                guard NIODeadline.now() + backoff < deadline else { throw otherwise }
                // Ended early by close(): the call throws CLIENT_CLOSED now (with its key and outcome when an
                // attempt may have run), not once the backoff is over.
                switch await closing.pause(backoff, on: group.next()) {
                case .elapsed:
                    break
                case .closed:
                    throw attempts.final(
                        RPCError(code: .unavailable, message: "the client is closed", reason: "CLIENT_CLOSED"))
                case .cancelled:
                    throw attempts.cancelled()
                }
            }
        }
    }

    /// One attempt: the response message, or why there is none. Throws `WaitEnded` when the call's `deadline`
    /// passes or its task is cancelled while it waits for a connection (nothing sent). The request's HEADERS
    /// (encoded into `headers`, reused across attempts) are made once the connection is there, so the timeout they
    /// tell the server is what is left of `deadline` after the wait (and again after a wait in the connection's queue
    /// behind the server's concurrent-call limit: the connection re-encodes them from `RequestHeaders`); the call on
    /// the connection ends at `deadline` too. The connection is one whose server's SETTINGS have arrived (the pool takes no other), so its API revision
    /// is known when `guardedFields` are checked against it: waiting for them is the wait for the connection, within
    /// `deadline`.
    private func attempt(
        path: String, metadata: [String: String], headers: inout ByteBuffer, message: ByteBuffer,
        guardedFields: [APIRevision.GuardedField], deadline: NIODeadline
    ) async throws -> Result<ByteBuffer, CallAttempts.Failure> {
        while true {
            let connection: ClientConnection
            do {
                connection = try await self.connection(deadline: deadline)
            } catch let error as ConnectError {
                return .failure(
                    .connectFailed(
                        message: error.message, serverWentAway: error.afterServerWentAway,
                        certificateRejected: error.certificateRejected))
            } catch let full as RPCError where full.reason == "CLIENT_QUEUE_FULL" {
                // The pool's line is full: an answer of this client's, unsent, as a connection's full queue gives.
                return .failure(.status(full))
            }
            let outcome = try await attempt(
                on: connection, path: path, metadata: metadata, headers: &headers, message: message,
                guardedFields: guardedFields, deadline: deadline)
            // Retired by this client for idleness just as the pool gave it this call (the pool reads the connection
            // without its event loop): nothing was sent, and its end says nothing of the server. Another is picked;
            // it is no attempt.
            if case .failure(.connectionLost(_, unstarted: true)) = outcome, connection.status.wasRetiredIdle {
                continue
            }
            return outcome
        }
    }

    /// The attempt on `connection`, which the pool picked (see `attempt(path:…)`).
    private func attempt(
        on connection: ClientConnection, path: String, metadata: [String: String], headers: inout ByteBuffer,
        message: ByteBuffer, guardedFields: [APIRevision.GuardedField], deadline: NIODeadline
    ) async throws -> Result<ByteBuffer, CallAttempts.Failure> {
        // Counted on the connection by the pool (which picks the one given the fewest calls) until the attempt ends.
        defer { callEnded(on: connection) }
        let remaining = deadline - .now()
        guard remaining > .zero else { throw WaitEnded.deadline }
        headers.clear()
        let requestHeaders = RequestHeaders(
            method: path, timeoutMicros: Self.timeoutMicros(remaining), metadata: metadata)
        try ProtoEncoder().encode(requestHeaders, into: &headers)
        switch try await connection.call(
            headers: headers, message: message, deadline: deadline, guardedFields: guardedFields,
            requestHeaders: requestHeaders)
        {
        case .response(let payload):
            return .success(payload)
        case .status(let payload):
            let status =
                (try? ProtoDecoder().decode(RpcStatus.self, from: payload))
                ?? RpcStatus(code: StatusCode.internal.rawValue, message: "unreadable status")
            let error =
                RPCError(status: status)
                ?? RPCError(code: .internal, message: "an OK status without a response", reason: "MALFORMED_RESPONSE")
            // The server takes no more calls on this connection: the retry of this one goes to another. Not for
            // TOO_MANY_STREAMS: the connection is sound (its calls end, and it takes more), and retiring it counted as
            // the server going away.
            if CallAttempts.endsTheConnection(error) { connection.retire(reason: error.message) }
            return .failure(.status(error))
        case .connectionFailure(let text, let unstarted):
            return .failure(.connectionLost(message: text, unstarted: unstarted))
        }
    }

    /// The `timeout_micros` telling the server that `remaining` (positive) is left, rounded up to whole microseconds:
    /// under 1 µs left must be sent as 1 µs, not as 0, which means no deadline at all.
    static func timeoutMicros(_ remaining: TimeAmount) -> Int64 {
        let nanoseconds = max(remaining.nanoseconds, 1)
        return nanoseconds / 1000 + (nanoseconds % 1000 == 0 ? 0 : 1)
    }

    /// A usable connection: of those taking calls, the one given the fewest that still has room below the server's
    /// concurrent-call limit (round-robin among equals), while the pool grows to its size in the background. When
    /// none has room, the call waits, until `deadline` (nil: none), for a connection being made — as many attempts
    /// start as calls wait, within the pool's size — or for room on any connection (a call ending on one, another
    /// coming up with slots beyond those the calls that waited for it take, one taking calls again after a PING),
    /// whichever comes first, and then picks again, rather than queueing behind a full one:
    /// a burst of calls at cold start or after a reconnect spreads over every connection, instead of running the
    /// server's limit on the first and queueing the rest there until their deadlines. Only when the pool is at its
    /// size (or connects back off after failures) is the call queued, on the connection given the fewest calls.
    /// `forCall`: the call is counted on the connection, and the caller must end it with ``callEnded(on:)``.
    private func connection(deadline: NIODeadline?, forCall: Bool = true) async throws -> ClientConnection {
        var failure: ConnectError?
        // The call's place in the pool's line, made at its first wait and kept through the next ones.
        var waiter: Waiter?
        // What woke it from its last wait (nil: nothing yet, or its attempt failed).
        var woken: Woken?
        while true {
            let pick = pool.withLock { pool in
                choose(
                    &pool, forCall: forCall, sawFailure: failure != nil, waiter: waiter, wokenForRoom: woken == .room)
            }
            switch pick {
            case .closed:
                throw RPCError(code: .unavailable, message: "the client is closed", reason: "CLIENT_CLOSED")
            case .ready(let connection):
                // Woken for room, or by a connection counted as having a slot for it, and it takes no slot: the next
                // call in line may.
                if !forCall, woken != nil { wakeFirstForRoom() }
                return connection
            case .full:
                throw RPCError(
                    code: .resourceExhausted,
                    message:
                        "more than \(configuration.poolWaitingCallsMax) calls wait for a connection; it was not sent",
                    reason: "CLIENT_QUEUE_FULL",
                    details: ["outcome": "not-started", "limit": "\(configuration.poolWaitingCallsMax)"])
            case .failed:
                var error =
                    failure ?? ConnectError(message: "cannot connect to \(configuration.host):\(configuration.port)")
                error.afterServerWentAway = pool.withLock { pool in
                    pool.wentAway.map { .now() - $0 < .seconds(Self.wentAwayRecentSeconds) } ?? false
                }
                throw error
            case .wait(let entry, let promise):
                waiter = entry
                woken = nil
                do {
                    // Out of line once woken: its connection, or the slot freed, may go to another call meanwhile,
                    // and the next pick takes whichever has room.
                    woken = try await wait(entry, on: promise, until: deadline)
                    let hook = wokenHook.withLock { hook in
                        defer { hook = nil }
                        return hook
                    }
                    if let hook { await hook() }
                } catch let error as ConnectError {
                    failure = error
                }
            }
        }
    }

    /// One pick of ``connection(deadline:forCall:)``, under the pool's lock; it counts the call on the connection it
    /// returns (`forCall`), and puts it in the pool's line when it returns `.wait` (`waiter`: its place from an
    /// earlier wait, if any; `wokenForRoom`: that wait ended for room, which another call took first, and the call
    /// goes back first in line). `sawFailure`: the attempt the call waited for failed; with no connection taking calls
    /// it then fails, rather than starting another attempt (its retries decide). Scans in place: this runs on every
    /// call and must not allocate when a connection has room.
    private func choose(
        _ state: inout Pool, forCall: Bool, sawFailure: Bool, waiter: Waiter?, wokenForRoom: Bool
    ) -> Pick {
        // Connections that ended leave; those going away stay until then, for `close()`. One this client retired
        // for idleness says nothing of the server.
        var wentAway = false
        state.connections.removeAll { connection in
            guard !connection.channel.isActive else { return false }
            if !connection.status.wasRetiredIdle { wentAway = true }
            return true
        }
        if wentAway { state.wentAway = .now() }
        if state.closed { return .closed }
        var alive = 0
        var roomy: ClientConnection?
        var roomyCalls = Int.max
        var leastLoaded: ClientConnection?
        var leastLoadedCalls = Int.max
        let count = state.connections.count
        state.next &+= 1
        if count > 0 {
            let first = Int(UInt(bitPattern: state.next) % UInt(count))
            for offset in 0..<count {
                let candidate = state.connections[(first + offset) % count]
                guard candidate.status.isAlive else {
                    if !candidate.status.wasRetiredIdle { state.wentAway = .now() }
                    continue
                }
                alive += 1
                let calls = candidate.status.callCount
                if calls < leastLoadedCalls {
                    leastLoaded = candidate
                    leastLoadedCalls = calls
                }
                if calls < roomyCalls, candidate.status.hasRoom {
                    roomy = candidate
                    roomyCalls = calls
                }
            }
        }
        let size = configuration.connectionPoolSize
        if let ready = roomy ?? (forCall ? nil : leastLoaded) {
            // The pool grows in the background, one attempt at a time.
            if state.attempts.isEmpty, state.mayConnect(alive: alive, size: size, sawFailure: sawFailure) {
                startConnecting(&state)
            }
            if forCall { ready.status.callStarted() }
            return .ready(ready)
        }
        // No room: wait for a connection being made, starting one for each call waiting, within the pool's size.
        var awaited: Int?
        while state.attempts.count < state.waiters.count + 1,
            state.mayConnect(alive: alive, size: size, sawFailure: sawFailure)
        {
            startConnecting(&state)
            awaited = state.attempts.count - 1
        }
        if awaited == nil, !state.attempts.isEmpty {
            // A call waiting again keeps to the attempt it waited for; others spread over the attempts under way
            // (round-robin), each woken when its own ends.
            if let current = waiter?.value.attempt,
                let index = state.attempts.firstIndex(where: { $0.connectionAttempts === current })
            {
                awaited = index
            } else {
                awaited = Int(UInt(bitPattern: state.next) % UInt(state.attempts.count))
            }
        }
        if let awaited {
            // A call new to the line past its limit is refused, unsent; one that waits again in the same attempt keeps
            // its place (a retry after a failed connect is new to it).
            if waiter == nil, state.waiters.count >= configuration.poolWaitingCallsMax { return .full }
            // Room on any connection, often there before the attempt ends, wakes it too.
            let (entry, promise) = enqueue(&state, attempt: awaited, waiter: waiter, first: wokenForRoom)
            return .wait(entry, promise)
        }
        // The pool is at its size (or backs off) and every connection is full: queue on the least loaded.
        if let leastLoaded {
            if forCall { leastLoaded.status.callStarted() }
            return .ready(leastLoaded)
        }
        return .failed
    }

    /// Puts a call in the pool's line, waiting for attempt `index` too, under the pool's lock: `waiter`, its place
    /// from an earlier wait (nil: a new one), back first when `first`. Returns its place and the promise its wait
    /// ends with. The call is listed on the attempt once: waiting for it again adds nothing there.
    private func enqueue(
        _ state: inout Pool, attempt index: Int, waiter: Waiter?, first: Bool
    ) -> (Waiter, EventLoopPromise<Woken>) {
        let attempt = state.attempts[index].connectionAttempts
        let promise = state.attempts[index].future.eventLoop.makePromise(of: Woken.self)
        let entry: Waiter
        if let waiter {
            waiter.value.promise = promise
            entry = waiter
        } else {
            entry = Waiter(Wait(promise: promise, attempt: nil))
        }
        state.waiters.add(entry, first: first)
        if entry.value.attempt !== attempt {
            // Those listed no longer waiting for it (their calls ended, or wait for another) are swept once they
            // outnumber the calls waiting: each sweep costs about what was listed since the last.
            if state.attempts[index].waiters.count > 2 * state.waiters.count + 64 {
                state.attempts[index].waiters.removeAll { listed in
                    if listed.isWaiting, listed.value.attempt === attempt { return false }
                    // Listed again should it wait for this attempt later.
                    if listed.value.attempt === attempt { listed.value.attempt = nil }
                    return true
                }
            }
            entry.value.attempt = attempt
            state.attempts[index].waiters.append(entry)
        }
        return (entry, promise)
    }

    /// Waits in the pool's line (`waiter`) until `promise` completes: room on a connection, or the end of the
    /// connection attempt it waits for, or `deadline` (nil: none) or the task's cancellation, which throw
    /// `WaitEnded`; a failed attempt throws `ConnectError`. Whatever ends the wait takes the call out of line. The
    /// caller then picks again (another call may have taken the connection, or the slot). Only this caller stops
    /// waiting: the attempt, which may take the connect timeout, the TLS handshake's and the connect timeout again
    /// for the server's SETTINGS, goes on for the pool and the other calls waiting on it.
    private func wait(
        _ waiter: Waiter, on promise: EventLoopPromise<Woken>, until deadline: NIODeadline?
    ) async throws -> Woken {
        let timer = deadline.map { deadline in
            promise.futureResult.eventLoop.scheduleTask(deadline: deadline) { [self] in
                self.endWait(waiter, promise, WaitEnded.deadline)
            }
        }
        defer { timer?.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                self.endWait(waiter, promise, WaitEnded.cancelled)
            }
        } catch let ended as WaitEnded {
            throw ended
        } catch {
            if pool.withLock({ $0.closed }) {
                throw RPCError(code: .unavailable, message: "the client is closed", reason: "CLIENT_CLOSED")
            }
            throw ConnectError(
                message: "cannot connect to \(configuration.host):\(configuration.port): \(Self.connectFailure(error))",
                certificateRejected: Self.certificateRejection(error))
        }
    }

    /// Ends the wait of `waiter` on `promise` (its deadline passed, or its task was cancelled), unless something
    /// ended it first: it leaves the line under the pool's lock, so a call ending meanwhile wakes the next call in
    /// line instead.
    private func endWait(_ waiter: Waiter, _ promise: EventLoopPromise<Woken>, _ ended: WaitEnded) {
        let current = pool.withLock { pool in
            guard waiter.value.promise.futureResult === promise.futureResult else { return false }
            return pool.waiters.remove(waiter)
        }
        if current { promise.fail(ended) }
    }

    /// A call the pool gave `connection` ended (``ClientConnectionStatus/callEnded()``): the call first in line, if
    /// any, is woken to pick again. It takes the slot freed, or waits again, first in line, if another call took it
    /// first.
    private func callEnded(on connection: ClientConnection) {
        connection.status.callEnded()
        wakeFirstForRoom()
    }

    /// Wakes the call first in line for room; outside the pool's lock.
    private func wakeFirstForRoom() {
        let woken = pool.withLock { $0.waiters.popFirst()?.value.promise }
        woken?.succeed(.room)
    }

    /// A connection of the pool takes calls again after holding them for a PING: as many calls first in line as it
    /// has room for are woken.
    private func roomReturned(on status: ClientConnectionStatus) {
        let woken = pool.withLock { pool in Self.takeForRoom(&pool.waiters, count: status.room) }
        for promise in woken { promise.succeed(.room) }
    }

    /// Takes up to `count` calls first in `line` out of it, for room on a connection: the promises of their waits, to
    /// succeed `.room` outside the pool's lock.
    private static func takeForRoom(_ line: inout RoomWaiters<Wait>, count: Int) -> [EventLoopPromise<Woken>] {
        var taken: [EventLoopPromise<Woken>] = []
        while taken.count < count, let next = line.popFirst() { taken.append(next.value.promise) }
        return taken
    }

    /// Why a connect attempt failed, in a line: for the addresses tried, the system's words for their error
    /// (`Connection refused`, the errno's `strerror`), each said once. NIO's own description of a failed connect
    /// (`NIOConnectionError`) dumps its `SingleConnectionFailure` values, which the CLI printed as they were. Any other
    /// failure (a TLS handshake's, a timeout) as it describes itself.
    static func connectFailure(_ error: any Error) -> String {
        guard let failure = error as? NIOConnectionError else { return systemReason(error) }
        if let lookup = failure.dnsAError ?? failure.dnsAAAAError {
            return "cannot resolve \(failure.host): \(systemReason(lookup))"
        }
        var reasons: [String] = []
        for attempt in failure.connectionErrors {
            let reason = systemReason(attempt.error)
            if !reasons.contains(reason) { reasons.append(reason) }
        }
        return reasons.isEmpty ? "no address to connect to" : reasons.joined(separator: "; ")
    }

    /// An `IOError` as the system's words for its errno, a failed name look-up as the resolver's, a TLS failure as its
    /// ``TLSError/detail`` (their descriptions begin with the Swift type's name, which the CLI printed:
    /// `TLSError.handshakeFailed: …`, `SocketAddressError.UnknownHost: …`); any other error as it describes itself.
    static func systemReason(_ error: any Error) -> String {
        switch error {
        case let error as IOError: String(cString: strerror(error.errnoCode))
        case let error as SocketAddressError.UnknownHost: error.errorDescription
        case let error as TLSError: error.detail
        default: "\(error)"
        }
    }

    /// An executor over the event loop of a connection of this client (connecting if none is open yet): tasks
    /// that prefer it make their calls without thread hops. See `EventLoopTaskExecutor`. Throws `CONNECT_FAILED`,
    /// `CANCELLED`, `CLIENT_CLOSED`, or `CLIENT_QUEUE_FULL` when it would wait in a full line
    /// (``NumbersClientConfiguration/poolWaitingCallsMax``).
    public func preferredTaskExecutor() async throws -> EventLoopTaskExecutor {
        do {
            return EventLoopTaskExecutor(try await connection(deadline: nil, forCall: false).channel.eventLoop)
        } catch let error as ConnectError {
            if let whose = error.certificateRejected { throw CallAttempts.certificateRejected(error.message, whose) }
            throw RPCError(code: .unavailable, message: error.message, reason: "CONNECT_FAILED")
        } catch is WaitEnded {
            throw RPCError(code: .cancelled, message: "cancelled while connecting", reason: "CANCELLED")
        }
    }

    /// Starts a connection attempt and records it in `state` (the pool, under its lock), last of its attempts; its end
    /// is ``attemptEnded(_:_:)``. `close()` cuts it short. The future never completes before this returns (NIO
    /// resolves and connects from the event loop), so its completion cannot run under the lock held here.
    private func startConnecting(_ state: inout Pool) {
        let attempts = ConnectionAttempts()
        let future = ClientConnection.connect(
            host: configuration.host, port: configuration.port, tls: tls,
            serverHostname: configuration.serverHostname ?? configuration.host, sessionCache: sessionCache,
            settings: configuration.settings, connectTimeout: configuration.connectTimeout,
            liveness: configuration.liveness, queuedCallsMax: configuration.queuedCallsMax, group: group,
            attempts: attempts,
            roomReturned: { [weak self] status in self?.roomReturned(on: status) })
        state.attempts.append(Attempt(future: future, connectionAttempts: attempts))
        future.whenComplete { [self] result in attemptEnded(attempts, result) }
    }

    /// The connection attempt cut short by `attempts` ended with `result`. On success its connection joins the pool
    /// and the failures in a row start over; a failure counts one more and backs the pool off
    /// (``connectBackoff(failures:)``). The calls waiting for it wake (a failure fails their waits), and as many calls
    /// first in line as the new connection has room for beyond those: calls that waited for another attempt, or woken
    /// for room another call took, would otherwise wait on while it has room.
    private func attemptEnded(_ attempts: ConnectionAttempts, _ result: Result<ClientConnection, any Error>) {
        let woken: (orphan: ClientConnection?, ended: [EventLoopPromise<Woken>], room: [EventLoopPromise<Woken>]) =
            pool.withLock { pool in
                var ended: [EventLoopPromise<Woken>] = []
                if let index = pool.attempts.firstIndex(where: { $0.connectionAttempts === attempts }) {
                    for waiter in pool.attempts[index].waiters where waiter.value.attempt === attempts {
                        waiter.value.attempt = nil
                        if pool.waiters.remove(waiter) { ended.append(waiter.value.promise) }
                    }
                    pool.attempts.remove(at: index)
                }
                switch result {
                case .success(let connection):
                    if pool.closed { return (connection, ended, []) }
                    pool.failures = 0
                    pool.backoffUntil = nil
                    pool.connections.append(connection)
                    let room = Self.takeForRoom(&pool.waiters, count: connection.status.room - ended.count)
                    return (nil, ended, room)
                case .failure:
                    pool.failures += 1
                    pool.backoffUntil = .now() + Self.connectBackoff(failures: pool.failures)
                    return (nil, ended, [])
                }
            }
        woken.orphan?.channel.close(promise: nil)
        let outcome = result.map { _ in Woken.attemptEnded }
        for promise in woken.ended { promise.completeWith(outcome) }
        for promise in woken.room { promise.succeed(.room) }
    }

    /// The pause after `failures` (at least 1) failed connect attempts in a row: ``connectBackoffInitial`` doubled
    /// for each failure after the first, at most ``connectBackoffMax``, drawn between half of that and all of it so
    /// that clients refused together do not all come back together.
    static func connectBackoff(failures: Int) -> TimeAmount {
        let doublings = min(max(failures - 1, 0), 30)
        let bound = min(connectBackoffInitial.nanoseconds << doublings, connectBackoffMax.nanoseconds)
        return .nanoseconds(Int64.random(in: (bound / 2)...bound))
    }

    /// What ``choose(_:forCall:sawFailure:waiter:wokenForRoom:)`` decided.
    private enum Pick {
        case closed
        case ready(ClientConnection)
        /// Wait, in the pool's line, for an attempt to end or for room on a connection, until the promise completes;
        /// then pick again.
        case wait(Waiter, EventLoopPromise<Woken>)
        /// It would wait, but ``NumbersClientConfiguration/poolWaitingCallsMax`` calls wait already.
        case full
        /// The attempt the call waited for failed, and nothing else can carry it.
        case failed
    }

    private struct ConnectError: Error {
        var message: String
        /// Whether the pool saw a connection go away shortly before (``Pool/wentAway``): a server restarting, whose
        /// refused connects the call waits out as it would after losing its own connection.
        var afterServerWentAway = false
        /// Whose certificate was refused, if one was (no attempt again changes that): the server's did not verify here
        /// (an untrusted issuer, another host's name, expired), or the server refused this client's (mutual TLS).
        var certificateRejected: CallAttempts.CertificateRejection? = nil
    }

    /// Whose certificate a failed connect's `error` says was refused; nil for any other failure. The server refusing
    /// this client's is its TLS alert, in OpenSSL's words (`tlsv13 alert certificate required`, `tlsv1 alert unknown
    /// ca`, …): an operator's walk saw each CLI run against a numberd with --client-ca try three handshakes, each
    /// counted in its `numberd_tls_handshake_failures_total{reason="certificate"}`.
    static func certificateRejection(_ error: any Error) -> CallAttempts.CertificateRejection? {
        guard let error = error as? TLSError else { return nil }
        if error.code == .certificateVerificationFailed { return .serverCertificate }
        let alerts = [
            "alert certificate required", "alert unknown ca", "alert bad certificate", "alert certificate unknown",
            "alert certificate expired", "alert certificate revoked", "alert unsupported certificate",
        ]
        let refused = error.openSSLErrors.contains { reason in alerts.contains { reason.contains($0) } }
        return refused ? .clientCertificate : nil
    }

    /// How long after the pool saw a connection go away a failed connect counts as the server restarting
    /// (``CallAttempts``' restart wait): 60 s, a restart's ~1 s with room for a slow one.
    static let wentAwayRecentSeconds: Int64 = 60

    /// Why a call stopped waiting for a connection being made: nothing was sent.
    private enum WaitEnded: Error {
        case deadline
        case cancelled
    }
}

/// Runs `body` with a client and closes it afterwards, whatever happens.
public func withNumbersClient<Result: Sendable>(
    _ configuration: NumbersClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    _ body: (NumbersClient) async throws -> Result
) async throws -> Result {
    let client = try NumbersClient(configuration: configuration, group: group)
    do {
        let result = try await body(client)
        await client.close()
        return result
    } catch {
        await client.close()
        throw error
    }
}
