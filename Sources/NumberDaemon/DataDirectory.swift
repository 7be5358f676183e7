import Foundation
import NumberAPI
import NumberCore
import NumberTLS

/// The layout of numberd's data directory:
///
/// ```
/// <data-dir>/            mode 0700
///   store/               the JSON journal and snapshots
///   tls/ca.pem           local CA certificate (clients trust this)
///   tls/ca-key.pem       its key, mode 0600
///   tls/server.pem       server certificate for localhost, 127.0.0.1, ::1, issued by the local CA (re-issued
///                        before it expires: GeneratedCertificates)
///   tls/server-key.pem   its key, mode 0600
///   admin.key            the first admin API key, mode 0600
///   twilio-sim.json      what the in-process Twilio simulator's account owns (default run only): a snapshot
///   twilio-sim.json.journal   the simulator's changes since that snapshot, one JSON line each (folded into it at
///                        every start and every 8 MiB / 50 000 lines)
///   provider.json        the provider account the numbers are owned at (ProviderBinding), written at first start
///   provider.legacy      from a start that found neither provider.json nor store/FORMAT (a store from before
///                        both, or a new one) until provider.json is written (ProviderBinding.markLegacy)
///   clock                the latest time a running numberd saw (Unix seconds), written at start, every minute and
///                        at shutdown: what a start compares its clock with (Numberd.checkClock)
///   downtimes            when numberd was not running (one line each, `<from> <to>` in Unix seconds, at most 100),
///                        written at start (and by the clock's minute when it lacks one numberd counts: a write that
///                        failed, a clock's correction): grace periods and keys count only the time outside them
/// ```
public struct DataDirectory: Sendable {
    /// The root.
    public let root: String

    /// Creates the layout description for `root` (nothing is touched).
    public init(root: String) { self.root = root }

    /// The store's folder.
    public var store: String { root + "/store" }
    /// The local CA certificate.
    public var caCertificate: String { LocalDefaults.caCertificate(dataDirectory: root) }
    var caKey: String { root + "/tls/ca-key.pem" }
    var serverCertificate: String { root + "/tls/server.pem" }
    var serverKey: String { root + "/tls/server-key.pem" }
    /// The admin key written at first start.
    public var adminKeyFile: String { LocalDefaults.adminKeyFile(dataDirectory: root) }

    /// The in-process simulator's state file (numbers and trunks bought there), so a restart keeps them as Twilio
    /// would; its journal is beside it (`SimulatorStateFile.journalPath`).
    var simulatorState: String { root + "/twilio-sim.json" }

    /// The provider account this directory's numbers are owned at (``ProviderBinding``).
    public var providerBinding: String { root + "/provider.json" }

    /// Present while the directory awaits its first `provider.json` and may be from before that file
    /// (``ProviderBinding/markLegacy(_:)``): what its store's missing `FORMAT` said before a start wrote one, or
    /// what a restore of a backup without `provider.json` that carries this mark says.
    public var legacyBindingMarker: String { root + "/provider.legacy" }

    /// Writes ``legacyBindingMarker`` (synced, as ``replaceFile(_:with:)`` writes).
    func markBindingLegacy() throws {
        try replaceFile(
            legacyBindingMarker,
            with: "a store from before provider.json: the next start that passes the provider check binds it\n")
    }

    /// The latest time a numberd running on this directory saw (Unix seconds, one line).
    var clockMark: String { root + "/clock" }

    /// The most numberd reads of its own small files, each of which it writes far smaller (`clock` a line of digits,
    /// `downtimes` at most 100 short lines, `admin.key` a key, `provider.json` a few names): one grown past it is not
    /// numberd's writing and reads as damaged, as one that is not a regular file does (a FIFO put at the path held
    /// the start that opened it for ever).
    static let clockMarkBytesMax = 64
    static let downtimesBytesMax = 64 << 10
    static let adminKeyBytesMax = 4 << 10
    static let providerBindingBytesMax = LocalDefaults.providerBindingBytesMax

    /// The time in `clock`, if the file holds one.
    func readClockMark() -> Date? {
        guard let text = try? readBoundedText(clockMark, bytesMax: Self.clockMarkBytesMax),
            let seconds = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// Moves `clock` forward to `now` (never back: a clock set back must not erase how far time had got).
    func advanceClockMark(to now: Date) throws {
        if let mark = readClockMark(), mark >= now { return }
        try replaceFile(clockMark, with: "\(Int64(now.timeIntervalSince1970))\n")
    }

    /// When numberd was not running, as its starts recorded it (``Downtimes``).
    var downtimes: String { root + "/downtimes" }

    /// The downtimes in `downtimes`: none when the file is missing, nil when it cannot be read or holds anything but
    /// downtimes in time order.
    func readDowntimes() -> Downtimes? {
        let text: String
        do {
            guard let read = try readBoundedText(downtimes, bytesMax: Self.downtimesBytesMax) else {
                return Downtimes()
            }
            text = read
        } catch {
            return nil
        }
        var intervals: [DateInterval] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let fields = line.split(separator: " ")
            // Years 1970...9999: what numberd's own clock can have written.
            let seconds = BillingCalendar.supportedDates
            guard fields.count == 2, let from = Int64(fields[0]), let to = Int64(fields[1]), from <= to,
                seconds.contains(Date(timeIntervalSince1970: TimeInterval(from))),
                seconds.contains(Date(timeIntervalSince1970: TimeInterval(to)))
            else {
                return nil
            }
            intervals.append(
                DateInterval(
                    start: Date(timeIntervalSince1970: TimeInterval(from)),
                    end: Date(timeIntervalSince1970: TimeInterval(to))))
        }
        return Downtimes(intervals)
    }

    /// Replaces `downtimes` with `recorded` (written whole, then renamed into place).
    func writeDowntimes(_ recorded: Downtimes) throws {
        let lines = recorded.intervals.map {
            "\(Int64($0.start.timeIntervalSince1970)) \(Int64($0.end.timeIntervalSince1970))\n"
        }
        try replaceFile(downtimes, with: lines.joined())
    }

    /// Creates the folders (mode 0700) if missing, then syncs the root's parent and the root, so their entries
    /// survive a power cut (the store syncs what it creates inside `store/`, but only a folder it created itself).
    /// First, before anything is written, refuses root on another user's directory
    /// (``requireOwnedByThisUserAsRoot()``).
    func prepare() throws {
        try requireOwnedByThisUserAsRoot()
        try checkStoreIsThere()
        for folder in [root, root + "/tls", store] {
            if let problem = Self.makeFolder(folder) {
                throw ConfigurationError(
                    "the data directory \(root) (--data-dir, NUMBERD_DATA_DIR) cannot be used: \(problem); give a "
                        + "directory numberd's user may write, on a writable file system")
            }
        }
        // Folders that already existed keep their mode: one restored from a backup or made by hand as 0755 would
        // show the ledger and the TLS keys' names (and, before the files were 0600, the ledger itself) to every
        // local user. numberd's own folders are tightened when numberd owns them; one it does not own (a mount
        // point root:numberd 0770) is the operator's to set, and chmod would fail there.
        for folder in [root + "/tls", store] {
            var status = stat()
            guard stat(folder, &status) == 0, status.st_uid == geteuid(), status.st_mode & 0o077 != 0 else { continue }
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder)
        }
        let files = POSIXJournalFileSystem()
        let parent = (root as NSString).deletingLastPathComponent
        // Best effort for the parent: one that cannot be opened for reading (mode 0711) is not ours to sync, and a
        // failure to sync it leaves the root's entry where it was before this start (made by an earlier one, or now).
        try? files.fsyncDirectory(parent.isEmpty ? "." : parent)
        try files.fsyncDirectory(root)
    }

    /// Makes `path` a folder (mode 0700), with any parent missing, as `mkdir -p`; nil once it is one, else what stands
    /// in the way in the system's words (`… cannot be created (Permission denied)`, `… exists and is not a
    /// directory`): Foundation's error said "NSCocoaErrorDomain Code=512" and named no setting.
    static func makeFolder(_ path: String) -> String? {
        var status = stat()
        if stat(path, &status) == 0 {
            return status.st_mode & S_IFMT == S_IFDIR ? nil : "\(path) exists and is not a directory"
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, let problem = makeFolder(parent) { return problem }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            return "\(path) cannot be created (\(String(cString: strerror(errno))))"
        }
        return nil
    }

    /// Refuses a directory whose store is gone while the rest of it is not: `admin.key`, `clock` and `provider.json`
    /// are each written only once the store is open (its first journal segment durable; the admin key's record
    /// follows its file), so any of them beside a `store/` without a journal segment or a snapshot (missing, emptied,
    /// or a mount that failed so the folder under it shows) means the store was lost, not that this is a first start.
    /// Starting would serve an empty state (zero balances, numbers still paid at the provider with no owner) and write
    /// a second journal that the real one would later hide. Not `admin.key` alone: README tells an operator to remove
    /// it to get a new admin key, and with the store unmounted at that moment the directory looked new.
    /// `numberd verify` and `numberd backup` check it too: a lost store is not "sound" nor "no store".
    public func checkStoreIsThere() throws {
        guard let witness = servedWitness else { return }
        guard try !storeHasRecords() else { return }
        throw ConfigurationError(
            "\(store) holds no journal or snapshot, but \(witness) shows this directory has served before: its "
                + "store was lost or is not mounted. numberd will not start on an empty state in its place. Restore "
                + "or mount the store; to start afresh on purpose, use a new data directory")
    }

    /// The first of `admin.key`, `clock` and `provider.json` that exists: what shows this directory has served (each
    /// is written only once the store is open, ``checkStoreIsThere()``); nil for a directory that never did.
    public var servedWitness: String? {
        [adminKeyFile, clockMark, providerBinding].first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Whether `store/` holds a journal segment or a snapshot (false when it is missing); throws when it cannot be
    /// read (EACCES: say so, not "lost" or "none").
    public func storeHasRecords() throws -> Bool {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: store)
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            names = []
        } catch {
            throw ConfigurationError("cannot read \(store): \(error.localizedDescription)")
        }
        return names.contains { JournalLayout.segmentSeq($0) != nil || JournalLayout.snapshotSeq($0) != nil }
    }

    /// The local CA (to issue the server's and the simulator's certificates); throws when it is unreadable or its key
    /// does not match it.
    func authority() throws -> CertificateAuthority {
        try CertificateAuthority(certificatePEM: pem(caCertificate), privateKeyPEM: pem(caKey))
    }

    /// The PEM text of one of the TLS files under `tls/`, at most ``ServerCertificates/tlsFileBytesMax`` (as a
    /// configured certificate, key or CA file); throws when it is missing or cannot be used.
    func pem(_ path: String) throws(BoundedFileError) -> String {
        guard let text = try readBoundedText(path, bytesMax: ServerCertificates.tlsFileBytesMax) else {
            throw BoundedFileError(path: path, kind: .unreadable(errno: ENOENT))
        }
        return text
    }

    /// Takes group and other permissions off `admin.key` when it has any and this user owns it, and returns the mode
    /// it had (for the warning the start logs); nil when there was nothing to change (no file, not a regular file, or
    /// mode 0600 or 0400 already). The file is written 0600, but a copy, `install -m 644` or a Kubernetes `fsGroup`
    /// leaves it readable by others, which gives the all-powerful key to every local user. A file another user owns
    /// (which numberd cannot chmod) is refused, as a Twilio secret file others can read is (``SecretFile``).
    func tightenAdminKey() throws -> Int? {
        var status = stat()
        guard stat(adminKeyFile, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        let permissions = Int(status.st_mode & 0o777)
        guard permissions & 0o077 != 0 else { return nil }
        guard status.st_uid == geteuid() else {
            throw ConfigurationError(
                "\(adminKeyFile) is accessible by group or others (mode \(String(permissions, radix: 8))) and belongs "
                    + "to user id \(status.st_uid), not to this user (\(geteuid())): the admin key must be readable by "
                    + "its owner only; `chmod 600 \(adminKeyFile)` as its owner")
        }
        guard chmod(adminKeyFile, 0o600) == 0 else {
            throw ConfigurationError("cannot chmod 600 \(adminKeyFile): \(String(cString: strerror(errno)))")
        }
        return permissions
    }

    /// The secret in `admin.key`, if the file exists and is readable.
    func readAdminKey() -> String? {
        (try? readBoundedText(adminKeyFile, bytesMax: Self.adminKeyBytesMax))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes the admin key secret in place of `admin.key` (mode 0600), atomically (``replaceFile(_:with:)``).
    func writeAdminKey(_ secret: String) throws {
        try replaceFile(adminKeyFile, with: secret + "\n")
    }

    /// Refuses a data directory owned by another user than this process's: numberd, as its owner, could not open the
    /// files a command run as another (`sudo numberd restore` over a `numberd` user's directory) would write there.
    /// `command` names the command in the advice. A directory that does not exist passes.
    public func requireOwnedByThisUser(doing command: String) throws {
        var status = stat()
        guard stat(root, &status) == 0 else { return }
        guard status.st_uid == geteuid() else {
            throw ConfigurationError(
                "\(root) belongs to user id \(status.st_uid), not to this user (\(geteuid())): run the \(command) as its "
                    + "owner (sudo -u <numberd's user> numberd \(command) …)")
        }
    }

    /// Refuses a `store/` that is not this user's, for `command` (`serve` as root, `verify`, `backup`, `restore` as
    /// root); returns true when it is this user's, nil when there is none or it tells nothing of who served it (no
    /// `FORMAT`, no records: the caller judges the data directory instead). A store is the user's who owns its `FORMAT` file, which its first
    /// start writes — a store numberd's user served on a mount point root owns and its group may write in
    /// (root:numberd 0770), which `serve` accepts, is that user's (the folder's owner alone refused `verify` and
    /// `backup` there, and let root serve it, writing root's 0600 files among numberd's). Root also needs the folder
    /// to be root's: a `FORMAT` of root's in another user's folder (`sudo cp backup/store/FORMAT store/`, as the
    /// damaged-FORMAT advice says, without `-a`) does not make it root's to write in. `FORMAT` must be a file, not a
    /// link (one numberd's user made to a file of root's would pass as root's). A store from before `FORMAT` existed
    /// is judged by its folder.
    @discardableResult
    public func requireStoreIsThisUsers(doing command: String) throws -> Bool? {
        var folder = stat()
        guard stat(store, &folder) == 0 else { return nil }
        let me = geteuid()
        func refuse(_ path: String, _ owner: uid_t) -> ConfigurationError {
            ConfigurationError(
                "\(path) belongs to user id \(owner), not to this user (\(me)): the store is its owner's; run the "
                    + "\(command) as that user (sudo -u <numberd's user> numberd \(command) …)")
        }
        let formatPath = store + "/" + JournalLayout.formatName
        var format = stat()
        if lstat(formatPath, &format) == 0 {
            guard format.st_mode & S_IFMT == S_IFREG else {
                throw ConfigurationError("\(formatPath) is not a regular file (a link?): refused for the \(command)")
            }
            guard format.st_uid == me else { throw refuse(formatPath, format.st_uid) }
            guard me != 0 || folder.st_uid == 0 else { throw refuse(store, folder.st_uid) }
            try requireNoFilesOfOthers(command)
            return true
        }
        // A folder this user may not enter (another user's, 0700) is told by its owner, not as unreadable.
        guard errno == ENOENT || folder.st_uid == me else { throw refuse(store, folder.st_uid) }
        guard try storeHasRecords() else { return nil }
        guard folder.st_uid == me else { throw refuse(store, folder.st_uid) }
        try requireNoFilesOfOthers(command)
        return true
    }

    /// Refuses a store of this user's that holds files of another (a store root served under the rule before
    /// ``requireStoreIsThisUsers(doing:)``, then its user): the command would fail later on the first one it cannot
    /// read, or — root's — write beside files its user cannot read, without saying why.
    private func requireNoFilesOfOthers(_ command: String) throws {
        let me = geteuid()
        // The store's own files only: a mount point's `lost+found` is root's, and none of numberd's business.
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: store)) ?? []).filter { name in
            name == JournalLayout.formatName || JournalLayout.segmentSeq(name) != nil
                || JournalLayout.snapshotSeq(name) != nil
        }
        let others = names.sorted().compactMap { name -> String? in
            var status = stat()
            guard lstat(store + "/" + name, &status) == 0, status.st_uid != me else { return nil }
            return "\(name) (user id \(status.st_uid))"
        }
        guard !others.isEmpty else { return }
        let shown = others.prefix(5).joined(separator: ", ") + (others.count > 5 ? ", …" : "")
        throw ConfigurationError(
            "\(store) is this user's (\(me)) but holds \(others.count) file(s) of another: \(shown); make them the "
                + "store's user's (chown <numberd's user> \(store)/*), then run the \(command) again")
    }

    /// Refuses a start as root on a data directory or `store/` another user owns, as `numberd verify`, `backup` and
    /// `restore` refuse one: `sudo numberd serve --data-dir /var/lib/numberd` with the unit stopped rewrote `clock`,
    /// `downtimes`, the simulator's state and journal, snapshots and certificates as root's, mode 0600; the service's
    /// user then could not read them (the simulator's state refused every start; with Twilio the unreadable
    /// `downtimes` was written again without the earlier outages, so past-due numbers were released early). Only as
    /// root: any other user writes its own files, and a directory another owns that it may write in is the
    /// operator's choice (a mount point root:numberd 0770, a Kubernetes `fsGroup` volume). Judged by `store/` when it
    /// exists — whoever owns it has served here: a store of root's is root's to serve, whoever owns the folder it sits
    /// in (a container run as root on a volume whose mount point belongs to another uid), and a store numberd's user
    /// served on a mount point of root's is that user's (``requireStoreIsThisUsers(doing:)``) — else, a store that
    /// tells nothing (no `FORMAT`, no records), by the data directory, which a first start would fill with root's
    /// files.
    func requireOwnedByThisUserAsRoot() throws {
        guard geteuid() == 0 else { return }
        if try requireStoreIsThisUsers(doing: "serve") == nil { try requireOwnedByThisUser(doing: "serve") }
    }

    /// Replaces `path` (mode 0600) with `text`, atomically, through the writer the TLS files use (``PEMFile``: a
    /// temporary file beside it, written whole, synced, renamed over it, then the folder synced), so a crash leaves
    /// the old file or the new one, never a partial one.
    func replaceFile(_ path: String, with text: String) throws {
        do {
            try PEMFile.write(text, to: path, mode: 0o600)
        } catch let error as TLSError {
            // Its message only: the writer's error code names certificates, which this file is not.
            throw ConfigurationError(error.message)
        } catch {
            throw ConfigurationError("\(error)")
        }
    }
}
