import Foundation
import Synchronization

/// The simulator without its transport: state behind a `Mutex`, fault decisions, and the inspection API tests use.
///
/// Thread-safe; every method takes the lock briefly. With a state file, a request that changes the account appends
/// one journal line under the lock (the lock orders the lines), and every request then waits, after the lock, until
/// every line the state it saw includes is synced (`SimulatorJournal`: one `fdatasync` for all who wait), so nothing
/// is answered that a crash could take back. While running, the journal is folded into a fresh snapshot under the
/// lock every `stateJournalRecordsMax` lines or `stateJournalBytesMax` bytes.
public final class SimulatorEngine: Sendable {
    /// The configuration it was built with.
    public let configuration: SimulatorConfiguration
    private let state: Mutex<SimulatorState>
    /// Apart from the state, so a read's copy-on-write snapshot of the state never shares (and copies) the log.
    private let log: Mutex<RequestLog>
    private let base: Mutex<String>
    /// The account's credentials now: the configuration's, until a secondary auth token is created, promoted or
    /// deleted.
    private let accountCredentials: Mutex<SimulatorCredentials>
    private let inFlight = Mutex(0)
    private let clock: @Sendable () -> Date
    /// Where the account's changes go, when `configuration.stateFile` is set.
    private let journal: SimulatorJournal?

    /// Creates an engine; `clock` stamps resources (inject a fixed one in tests). With `configuration.stateFile` it
    /// starts from what the snapshot and its journal hold (and compacts them), and throws when they cannot be read,
    /// are damaged before their last line, or belong to another seed.
    public convenience init(
        configuration: SimulatorConfiguration, baseURL: String = "http://127.0.0.1",
        clock: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        try self.init(configuration: configuration, baseURL: baseURL, clock: clock, fileOperations: .system)
    }

    /// The same, with the system calls that write the state file replaced (tests inject failures).
    init(
        configuration: SimulatorConfiguration, baseURL: String = "http://127.0.0.1",
        clock: @escaping @Sendable () -> Date = { Date() }, fileOperations: SimulatorFileOperations
    ) throws {
        self.configuration = configuration
        var initial = SimulatorState(configuration: configuration)
        if let path = configuration.stateFile {
            let file = SimulatorStateFile(path: path, operations: fileOperations)
            let recovered = try file.recover(seed: configuration.seed)
            if let contents = recovered.contents { initial.restore(contents) }
            initial.tracksChanges = true
            journal = SimulatorJournal(
                file: file, seed: configuration.seed, lastSequence: recovered.lastSequence,
                bytesMax: configuration.limits.stateJournalBytesMax,
                recordsMax: configuration.limits.stateJournalRecordsMax, kept: recovered.keptJournal)
        } else {
            journal = nil
        }
        self.state = Mutex(initial)
        self.log = Mutex(RequestLog(capacity: configuration.limits.requestLogEntriesMax))
        self.base = Mutex(configuration.publicBaseURL ?? baseURL)
        self.accountCredentials = Mutex(configuration.credentials)
        self.clock = clock
    }

    /// Base of absolute URLs in v1 responses.
    public var baseURL: String {
        get { base.withLock { $0 } }
        set { base.withLock { $0 = newValue } }
    }

    /// The credentials the account accepts now.
    public var credentials: SimulatorCredentials {
        accountCredentials.withLock { $0 }
    }

    /// Creates a secondary auth token (replacing one there was), as Twilio's `POST /v1/AuthTokens/Secondary`: from
    /// now on requests authenticate with either token. Returns it.
    @discardableResult
    public func createSecondaryAuthToken() -> String {
        var generator = SeededGenerator(seed: UInt64.random(in: .min ... .max))
        let token = SidFactory.hex(&generator)
        accountCredentials.withLock { $0.secondaryAuthToken = token }
        return token
    }

    /// Makes the secondary auth token the primary one, as Twilio's `POST /v1/AuthTokens/Promote`: the old primary
    /// stops working at once. False (and nothing changed) when there is no secondary token.
    @discardableResult
    public func promoteSecondaryAuthToken() -> Bool {
        accountCredentials.withLock { credentials in
            guard let secondary = credentials.secondaryAuthToken else { return false }
            credentials.authToken = secondary
            credentials.secondaryAuthToken = nil
            return true
        }
    }

    /// Deletes the secondary auth token, as Twilio's `DELETE /v1/AuthTokens/Secondary`: it stops working at once.
    public func deleteSecondaryAuthToken() {
        accountCredentials.withLock { $0.secondaryAuthToken = nil }
    }

    /// Runs `body` on the state under the lock (for inspection and test setup; keep it short).
    public func withState<T: Sendable>(_ body: (inout SimulatorState) -> T) -> T {
        state.withLock { body(&$0) }
    }

    /// ``SimulatorState/sellElsewhere(_:)`` with its journal line written and synced, as a request's change is (a
    /// line that cannot be written undoes it).
    func sellElsewhereDurably(_ phoneNumber: String) {
        let written: Int? = state.withLock { state in
            state.sellElsewhere(phoneNumber)
            let change = state.takeChange()
            guard let journal, !change.isEmpty else { return nil }
            do {
                return try journal.append(change, madeOn: state)
            } catch {
                state.undo(change)
                return nil
            }
        }
        if let written { try? journal?.waitDurable(through: written) }
    }

    /// Decides the faults for a request before it is handled (the transport applies the delay first). A request the
    /// account's credentials do not authorize meets none, and uses up no rule's `times`: it is routed and refused
    /// (401/20003), as Twilio authenticates a request before anything else happens to it.
    public func plan(for request: SimulatorRequest) -> (Endpoint, FaultPlan) {
        let route = Route(request)
        let endpoint = route.endpoint(method: request.method)
        guard (try? Router.authorize(request, route: route, credentials: credentials)) != nil else {
            return (endpoint, FaultPlan.none)
        }
        return (endpoint, state.withLock { $0.faults.plan(for: endpoint) })
    }

    /// Handles a request under its fault plan: routes it (unless the fault prevents acting) and logs it. Blocks
    /// until what it saw is on disk (tests and the in-memory path; the transport uses the callback form).
    public func execute(_ request: SimulatorRequest, endpoint: Endpoint, plan: FaultPlan) -> TransportAction {
        let acted = act(request, endpoint: endpoint, plan: plan)
        var failure: StateFileError?
        if let journal {
            do throws(StateFileError) {
                try journal.waitDurable(through: acted.seen)
            } catch {
                failure = error
            }
        }
        return settle(acted, request, endpoint: endpoint, failure: failure)
    }

    /// The same without blocking: `done` gets the action once what the request saw is on disk — at once on this
    /// thread when nothing is waiting to be synced, else on the journal's sync thread (hand it to the event loop).
    public func execute(
        _ request: SimulatorRequest, endpoint: Endpoint, plan: FaultPlan,
        done: @escaping @Sendable (TransportAction) -> Void
    ) {
        let acted = act(request, endpoint: endpoint, plan: plan)
        guard let journal else { return done(settle(acted, request, endpoint: endpoint, failure: nil)) }
        journal.whenDurable(through: acted.seen) { failure in
            done(self.settle(acted, request, endpoint: endpoint, failure: failure))
        }
    }

    /// What a request did before its durability is known.
    private struct Acted: Sendable {
        var action: TransportAction
        var fault: FaultKind?
        var acted: Bool
        /// The credential it authenticated with (nil: refused, or not routed).
        var credential: RequestCredential?
        /// Whether it wrote a journal line (a change).
        var wroteLine: Bool
        /// The last line the state it saw includes: the answer waits until that is on disk.
        var seen: Int
    }

    /// Routes the request (unless the fault prevents acting) and, for a change, appends its journal line.
    private func act(_ request: SimulatorRequest, endpoint: Endpoint, plan: FaultPlan) -> Acted {
        var context = RouterContext(configuration: configuration, baseURL: baseURL, now: clock())
        context.configuration.credentials = credentials
        context.host = request.host
        context.listLagMilliseconds = plan.listLagMilliseconds
        if request.method == "GET" && (plan.fault == nil || plan.fault?.isDelayOnly == true) {
            // Reads run on a copy-on-write snapshot outside the lock, so slow searches do not serialise.
            let (copy, seen) = state.withLock { ($0, journal?.lastWritten ?? 0) }
            var snapshot = copy
            let result = Router.handle(request, state: &snapshot, context: context)
            // What it shows must be on disk before it is told; after a failed sync, memory is all there is.
            return Acted(
                action: .respond(result.response), fault: nil, acted: false, credential: result.credential,
                wroteLine: false, seen: seen)
        }
        return state.withLock { state in
            var acted = false
            var credential: RequestCredential?
            var action: TransportAction
            func route() -> SimulatorResponse {
                let result = Router.handle(request, state: &state, context: context)
                acted = result.acted
                credential = result.credential
                return result.response
            }
            switch plan.fault {
            case nil, .latency, .listLag: action = .respond(route())
            case .soldElsewhere:
                if let raw = request.formParameters["PhoneNumber"],
                    let phoneNumber = try? Router.normalizedNumber(raw)
                {
                    state.sellElsewhere(phoneNumber)
                }
                action = .respond(route())
            case .error(let error), .serverErrorBeforeActing(let error): action = .respond(.twilioError(error))
            case .tooManyRequests(let seconds):
                let headers = seconds.map { ["Retry-After": String($0)] } ?? [:]
                action = .respond(.twilioError(.tooManyRequests, headers: headers))
            case .unavailableRetryAfter(let seconds):
                action = .respond(.twilioError(.serviceUnavailable, headers: ["Retry-After": String(seconds)]))
            case .serverErrorAfterActing(let error):
                _ = route()
                action = .respond(.twilioError(error))
            case .connectionReset: action = .reset
            case .stall(let milliseconds): action = .stallThenClose(milliseconds: milliseconds)
            case .responseLost:
                _ = route()
                action = .close
            case .stallAfterActing(let milliseconds):
                _ = route()
                action = .stallThenClose(milliseconds: milliseconds)
            case .malformedBodyAfterActing:
                var response = route()
                response.body = Array("{\"sid\": \"PN".utf8)
                action = .respond(response)
            case .oversizedBodyAfterActing(let bytes):
                var response = route()
                response.body = Array(repeating: UInt8(ascii: " "), count: max(0, bytes - 2)) + Array("{}".utf8)
                action = .respond(response)
            }
            guard let journal else {
                return Acted(
                    action: action, fault: plan.fault, acted: acted, credential: credential, wroteLine: false, seen: 0)
            }
            let change = state.takeChange()
            var wroteLine = false
            if !change.isEmpty {
                do {
                    _ = try journal.append(change, madeOn: state)
                    wroteLine = true
                } catch {
                    // Not written (or the journal stopped after a failed sync): undone, and refused.
                    state.undo(change)
                    acted = false
                    action = .respond(.twilioError(.internalError))
                }
            }
            return Acted(
                action: action, fault: plan.fault, acted: acted, credential: credential, wroteLine: wroteLine,
                seen: journal.lastWritten)
        }
    }

    /// The answer once the request's durability is known, logged. A change whose line may not be on disk (the
    /// journal stopped) is answered 500 — its outcome is uncertain, as from Twilio's 500 after acting; the change
    /// stays in memory and the journal refuses every later one. A read is answered from memory — unless it saw such
    /// a change (`failure` is set only then): answered 500 too, or a purchase a crash could take back would be shown
    /// bought to the look-up that settles it (numberd charging for a number the simulator may lose).
    private func settle(
        _ acted: Acted, _ request: SimulatorRequest, endpoint: Endpoint, failure: StateFileError?
    ) -> TransportAction {
        var action = acted.action
        if failure != nil { action = .respond(.twilioError(.internalError)) }
        record(
            entry(
                request, endpoint: endpoint, action: action, fault: acted.fault, acted: acted.acted,
                credential: acted.credential))
        return action
    }

    private func record(_ entry: RequestLogEntry) {
        log.withLock { $0.append(entry) }
    }

    /// The requests received so far, oldest first (at most `requestLogEntriesMax`).
    public var requestLog: [RequestLogEntry] {
        log.withLock { $0.entries }
    }

    /// Empties the request log.
    public func clearRequestLog() {
        log.withLock { $0.removeAll() }
    }

    /// Plans and executes at once, ignoring any latency: the in-memory path for tests.
    public func handle(_ request: SimulatorRequest) -> TransportAction {
        let (endpoint, plan) = plan(for: request)
        return execute(request, endpoint: endpoint, plan: plan)
    }

    /// Counts a request in flight; false (and nothing counted) when `concurrentRequestsMax` is reached.
    public func beginRequest() -> Bool {
        inFlight.withLock { count in
            guard count < configuration.limits.concurrentRequestsMax else { return false }
            count += 1
            return true
        }
    }

    /// Requests being handled right now (including their injected latency, and a stalled one until its connection
    /// closes).
    public var requestsInFlight: Int {
        inFlight.withLock { $0 }
    }

    /// Ends a request counted by `beginRequest`.
    public func endRequest() {
        inFlight.withLock { count in
            precondition(count > 0, "endRequest without beginRequest")
            count -= 1
        }
    }

    /// Logs a request refused by the concurrency gate and returns Twilio's 429.
    public func refuseOverloaded(_ request: SimulatorRequest) -> TransportAction {
        // No Retry-After: Twilio documents none on its REST API's 429 (twilio-api.md §6.3), so a client must back off
        // on its own.
        let action = TransportAction.respond(.twilioError(.tooManyRequests))
        let endpoint = Route(request).endpoint(method: request.method)
        record(entry(request, endpoint: endpoint, action: action, fault: nil, acted: false, credential: nil))
        return action
    }

    /// The log entry of a request, within `requestLogEntryBytesMax`, its query and form kept only when it
    /// authenticated (`credential`): the log holds `requestLogEntriesMax` entries, and anyone who reaches the port
    /// fills them. Kept whole, a stranger's POSTs of 64 KiB bodies of thousands of distinct names took ~1 MiB an
    /// entry, gigabytes in numberd's heap.
    private func entry(
        _ request: SimulatorRequest, endpoint: Endpoint, action: TransportAction, fault: FaultKind?, acted: Bool,
        credential: RequestCredential?
    ) -> RequestLogEntry {
        var status: Int?
        if case .respond(let response) = action { status = response.status }
        let bytesMax = configuration.limits.requestLogEntryBytesMax
        var logged = RequestLogEntry(
            method: request.method, path: "", query: "", form: [:], endpoint: endpoint, status: status, fault: fault,
            acted: acted, host: request.host, credential: credential)
        logged.keep(path: request.path, bytesMax: bytesMax)
        if credential != nil {
            logged.keep(query: request.rawQuery, form: request.formParameters.pairs, bytesMax: bytesMax)
        }
        return logged
    }
}
