import Foundation
import NumberAPI
import NumberClient
import NumberDaemon
import TestSupport
import Testing

@Suite("numberd configuration")
struct ConfigurationTests {
    @Test("no flags, no environment: the embedded defaults")
    func defaults() throws {
        let configuration = try NumberdConfiguration.resolve(flags: [:], environment: ["HOME": "/home/u"])
        #expect(configuration.listen.description == "127.0.0.1:7443")
        #expect(configuration.metricsListen?.description == "127.0.0.1:9464")
        #expect(configuration.dataDirectory == "/home/u/.local/share/numberd")
        #expect(configuration.provider == .simulator(seed: 1))
        #expect(configuration.billingIntervalSeconds == 60)
        #expect(configuration.connectionLimits.connectionsMax == 10_000)
        #expect(configuration.connectionLimits.partialFrameBytesMax == 256 * 1024 * 1024)
        #expect(configuration.connectionLimits.connectionsPerAddressMax == 1000)
        #expect(configuration.connectionLimits.settings.maxMessagePayload == 64 * 1024)
        #expect(configuration.snapshotBytesMax == 4_294_967_294)
        #expect(configuration.gracePeriodSeconds == 604_800)
    }

    @Test("the clock lead limit: 0 and ten years are taken, one second more and a negative one are refused")
    func clockLeadMax() throws {
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: [:]).clockLeadMaxSeconds == 2_678_400)
        #expect(
            try NumberdConfiguration.resolve(flags: ["clock-lead-max": "0"], environment: [:]).clockLeadMaxSeconds == 0)
        let longest = try NumberdConfiguration.resolve(flags: [:], environment: ["NUMBERD_CLOCK_LEAD_MAX": "315360000"])
        #expect(longest.clockLeadMaxSeconds == 315_360_000)
        for bad in ["315360001", "-1", "31d"] {
            #expect(throws: ConfigurationError.self) {
                try NumberdConfiguration.resolve(flags: ["clock-lead-max": bad], environment: [:])
            }
        }
    }

    /// The orphan watch is what refuses other purchases of a voided purchase's number while its request may still
    /// land (the in-flight horizon and an hour): a shorter one was refused late, by the core, exit 1, in its own names.
    @Test("--orphan-watch: 0 or at least the horizon + 3600 s, refused at resolve; not given, it covers the window")
    func orphanWatchCoversTheLateBuyWindow() throws {
        let resolve = { (flags: [String: String]) in try NumberdConfiguration.resolve(flags: flags, environment: [:]) }
        #expect(try resolve([:]).orphanWatchSeconds == 86_400)
        #expect(try resolve(["reconcile-in-flight-horizon": "86400"]).orphanWatchSeconds == 90_000)
        #expect(try resolve(["orphan-watch": "0"]).orphanWatchSeconds == 0)
        #expect(try resolve(["orphan-watch": "4200"]).orphanWatchSeconds == 4_200)
        let error = #expect(throws: ConfigurationError.self) { try resolve(["orphan-watch": "4199"]) }
        #expect("\(String(describing: error))".contains("orphan-watch"))
        #expect(throws: ConfigurationError.self) {
            try resolve(["orphan-watch": "86400", "reconcile-in-flight-horizon": "86400"])
        }
    }

    /// Kept set in the environment or a config file, the flag would disarm the provider binding for good.
    @Test("--rebind-provider is read from the command line only")
    func rebindProviderIsAFlagOnly() throws {
        #expect(try NumberdConfiguration.resolve(flags: ["rebind-provider": "true"], environment: [:]).rebindProvider)
        #expect(try !NumberdConfiguration.resolve(flags: [:], environment: [:]).rebindProvider)
        let environment = try NumberdConfiguration.resolve(flags: [:], environment: ["NUMBERD_REBIND_PROVIDER": "true"])
        #expect(!environment.rebindProvider)
    }

    @Test("the grace period: 0 and 90 days are taken, one second more and a negative one are refused")
    func gracePeriod() throws {
        #expect(
            try NumberdConfiguration.resolve(flags: ["grace-period": "0"], environment: [:]).gracePeriodSeconds == 0)
        let longest = try NumberdConfiguration.resolve(flags: [:], environment: ["NUMBERD_GRACE_PERIOD": "7776000"])
        #expect(longest.gracePeriodSeconds == 7_776_000)
        for bad in ["7776001", "-1", "7d"] {
            #expect(throws: ConfigurationError.self) {
                try NumberdConfiguration.resolve(flags: ["grace-period": bad], environment: [:])
            }
        }
    }

    @Test("the snapshot size limit: its maximum is taken, one byte more and zero are refused")
    func snapshotBytesMax() throws {
        let maximum = try NumberdConfiguration.resolve(flags: ["snapshot-bytes-max": "4294967294"], environment: [:])
        #expect(maximum.snapshotBytesMax == 4_294_967_294)
        let small = try NumberdConfiguration.resolve(flags: [:], environment: ["NUMBERD_SNAPSHOT_BYTES_MAX": "1024"])
        #expect(small.snapshotBytesMax == 1024)
        for bad in ["4294967295", "0", "1GiB"] {
            #expect(throws: ConfigurationError.self) {
                try NumberdConfiguration.resolve(flags: ["snapshot-bytes-max": bad], environment: [:])
            }
        }
    }

    /// The server-wide budget of partially received frames: below one whole largest request frame (the server's
    /// 64 KiB MAX_MESSAGE_PAYLOAD + its 12-byte header) every request that size not read in one burst would be
    /// refused, so the start is.
    @Test("the partial frame budget: one whole largest frame is taken, one byte less and garbage are refused")
    func partialFrameBytesMax() throws {
        let least = try NumberdConfiguration.resolve(flags: ["partial-frame-bytes-max": "65548"], environment: [:])
        #expect(least.connectionLimits.partialFrameBytesMax == 65_548)
        #expect(least.connectionLimits.largestFrameBytes == 65_548)
        let large = try NumberdConfiguration.resolve(
            flags: [:], environment: ["NUMBERD_PARTIAL_FRAME_BYTES_MAX": "1073741824"])
        #expect(large.connectionLimits.partialFrameBytesMax == 1 << 30)
        for bad in ["65547", "0", "-1", "256MiB"] {
            #expect(throws: ConfigurationError.self) {
                try NumberdConfiguration.resolve(flags: ["partial-frame-bytes-max": bad], environment: [:])
            }
        }
    }

    /// The unsent reply budget's floor is one whole largest response a client takes by default (4 MiB + 12 bytes),
    /// not the server's smaller request limit: a response is bounded by the client's SETTINGS.
    @Test("the unsent reply budget: one whole largest frame is taken, one byte less and garbage are refused")
    func unsentReplyBytesMax() throws {
        #expect(
            try NumberdConfiguration.resolve(flags: [:], environment: [:]).connectionLimits.unsentReplyBytesMax
                == 256 * 1024 * 1024)
        let least = try NumberdConfiguration.resolve(flags: ["unsent-reply-bytes-max": "4194316"], environment: [:])
        #expect(least.connectionLimits.unsentReplyBytesMax == 4_194_316)
        let large = try NumberdConfiguration.resolve(
            flags: [:], environment: ["NUMBERD_UNSENT_REPLY_BYTES_MAX": "1073741824"])
        #expect(large.connectionLimits.unsentReplyBytesMax == 1 << 30)
        for bad in ["4194315", "0", "-1", "256MiB"] {
            #expect(throws: ConfigurationError.self) {
                try NumberdConfiguration.resolve(flags: ["unsent-reply-bytes-max": bad], environment: [:])
            }
        }
    }

    @Test("flags beat the environment, which beats the config file")
    func precedence() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-\(UUID()).json")
        try Data(#"{"listen": "127.0.0.1:1111", "metrics-listen": "off", "rate-limit": 7, "data-dir": "/f"}"#.utf8)
            .write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try NumberdConfiguration.resolve(
            flags: ["config": file.path, "listen": "[::1]:2222"],
            environment: ["NUMBERD_DATA_DIR": "/env", "NUMBERD_LISTEN": "127.0.0.1:3333"])
        #expect(configuration.listen == .init(host: "::1", port: 2222))
        #expect(configuration.listen.description == "[::1]:2222")
        #expect(configuration.dataDirectory == "/env")
        #expect(configuration.metricsListen == nil)
        #expect(configuration.rateLimits.callsPerSecond == 7)
    }

    @Test("Twilio credentials in the environment switch to Twilio; incomplete ones are an error")
    func twilio() throws {
        let sid = "AC" + String(repeating: "a", count: 32)
        let configuration = try NumberdConfiguration.resolve(
            flags: [:],
            environment: ["TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": String(repeating: "b", count: 32)])
        guard case .twilio(let credentials) = configuration.provider else {
            Issue.record("still the simulator")
            return
        }
        #expect(credentials.accountSid == sid)
        #expect(
            !"\(configuration.provider)".contains(String(repeating: "b", count: 32)),
            "a secret leaked into a description")
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: ["TWILIO_ACCOUNT_SID": sid])
        }
    }

    /// `twilio-base-url`, `twilio-ca-file` and `twilio-timeout-ms` are for Twilio, or a twilio-sim reached as Twilio:
    /// without Twilio credentials numberd ignored them and ran its in-process simulator, binding the data directory to
    /// it (`provider.json`). The start is refused instead (exit 64, as every refused setting), naming the setting,
    /// where it was given and the credentials it lacks.
    @Test(
        "a Twilio endpoint setting without Twilio credentials refuses the start, naming it and the credentials",
        arguments: [
            ("twilio-base-url", "https://127.0.0.1:8443"), ("twilio-ca-file", "/sim/ca.pem"),
            ("twilio-timeout-ms", "5000"),
        ])
    func twilioEndpointNeedsCredentials(key: String, value: String) throws {
        let variable = "NUMBERD_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: ["HOME": "/home/u", variable: value])
        }
        let said = error?.description ?? ""
        #expect(said.hasPrefix("\(key) (\(variable)) set without Twilio credentials"), "\(said)")
        #expect(said.contains("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"), "\(said)")
        let file = try ConfigurationFileTests.configFile(#"{"\#(key)": "\#(value)"}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": file], environment: ["HOME": "/home/u"])
        }
        #expect(
            fromFile?.description.hasPrefix("\(key) (the config file) set without Twilio credentials") == true,
            "\(String(describing: fromFile))")
    }

    @Test("with Twilio credentials the endpoint settings are taken, at start and by SIGHUP's reload (without them)")
    func twilioEndpointWithCredentials() throws {
        let environment = [
            "HOME": "/home/u", "TWILIO_ACCOUNT_SID": "AC" + String(repeating: "a", count: 32),
            "TWILIO_AUTH_TOKEN": String(repeating: "b", count: 32), "NUMBERD_TWILIO_BASE_URL": "https://127.0.0.1:8443",
            "NUMBERD_TWILIO_TIMEOUT_MS": "5000",
        ]
        let configuration = try NumberdConfiguration.resolve(flags: [:], environment: environment)
        #expect(configuration.twilioBaseURL == "https://127.0.0.1:8443")
        #expect(configuration.twilioRequestTimeoutMilliseconds == 5000)
        let origin = try NumberdConfiguration.Origin(flags: [:], environment: environment)
        let reloaded = try NumberdConfiguration.resolve(origin, environment: origin.startEnvironment)
        #expect(reloaded.twilioBaseURL == "https://127.0.0.1:8443")
    }

    /// `Double` reads "inf", "nan" and 1e-18, and only > 0 was checked: `"rate-limit": 1e-18` put the first refused
    /// call's retry time past `Int.max` milliseconds and numberd trapped (at start or, by SIGHUP, while running); an
    /// infinite one, lowered by a reload, made the buckets NaN. Now finite, within documented ranges whose floors let a
    /// bucket hold one call (the burst is twice the rate) and one number.
    @Test("rate-limit 0.5...1e9 and purchase-cap 1...1e9: the edges are taken; inf, nan, 1e-18 and past them refused")
    func rateLimitAndPurchaseCapRanges() throws {
        for (text, rate) in [("0.5", 0.5), ("1000000000", 1e9), ("1e9", 1e9), ("500", 500.0)] {
            let configuration = try NumberdConfiguration.resolve(flags: ["rate-limit": text], environment: [:])
            #expect(configuration.rateLimits.callsPerSecond == rate && configuration.rateLimits.callsBurst == 2 * rate)
        }
        for (text, cap) in [("1", 1.0), ("1000000000", 1e9)] {
            let configuration = try NumberdConfiguration.resolve(
                flags: [:], environment: ["NUMBERD_PURCHASE_CAP": text])
            #expect(configuration.rateLimits.purchasedNumbersPerHour == cap)
        }
        let bad = ["0.49", "1000000001", "1e-18", "inf", "infinity", "-inf", "nan", "0", "-1", "1e400", "x"]
        for text in bad {
            let error = #expect(throws: ConfigurationError.self, "rate-limit \(text)") {
                try NumberdConfiguration.resolve(flags: ["rate-limit": text], environment: [:])
            }
            #expect(error?.description == "rate-limit must be 0.5...1000000000 calls per second, not '\(text)'")
        }
        for text in ["0.99", "1000000001", "1e-18", "inf", "nan", "0"] {
            let error = #expect(throws: ConfigurationError.self, "purchase-cap \(text)") {
                try NumberdConfiguration.resolve(flags: ["purchase-cap": text], environment: [:])
            }
            #expect(error?.description == "purchase-cap must be 1...1000000000 numbers per hour, not '\(text)'")
        }
    }

    /// SIGHUP resolves the file again under the start's environment: its default data directory (from XDG_DATA_HOME or
    /// HOME) is the start's, while the Twilio credentials' variables are left to their own reload.
    @Test("the origin keeps the start's environment but the Twilio credentials; overrides are still the NUMBERD_ ones")
    func originKeepsTheStartEnvironment() throws {
        let environment = [
            "XDG_DATA_HOME": "/xdg", "HOME": "/h", "NUMBERD_LOG_LEVEL": "debug", "TWILIO_AUTH_TOKEN": "secret",
            "TWILIO_AUTH_TOKEN_FILE": "/s", "CREDENTIALS_DIRECTORY": "/c",
        ]
        let origin = try NumberdConfiguration.Origin(flags: [:], environment: environment)
        #expect(origin.startEnvironment == ["XDG_DATA_HOME": "/xdg", "HOME": "/h", "NUMBERD_LOG_LEVEL": "debug"])
        #expect(origin.environment == ["NUMBERD_LOG_LEVEL": "debug"])
        let again = try NumberdConfiguration.resolve(origin, environment: origin.startEnvironment)
        #expect(again.dataDirectory == "/xdg/numberd" && again.logLevel == .debug)
    }

    /// `NUMBERD_DATA_DIR=` (a compose file's `${DATA_DIR}` unset) overrode the config file with "", and the start
    /// failed later at the file system's root (exit 1, not the 64 of a refused setting). Every path setting now refuses
    /// an empty value by name, from a flag, the environment or the config file, as `backup-dir` did.
    @Test("an empty path is refused by name, whether from a flag, the environment or the config file")
    func emptyPathsAreRefused() throws {
        for key in ["data-dir", "tls-cert", "tls-key", "client-ca", "backup-dir", "twilio-ca-file"] {
            let variable = "NUMBERD_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
            let error = #expect(throws: ConfigurationError.self, "\(variable)") {
                try NumberdConfiguration.resolve(flags: [:], environment: ["HOME": "/home/u", variable: ""])
            }
            #expect(error?.description.hasPrefix("\(key) must name a") == true, "\(String(describing: error))")
        }
        // The empty variable wins over the file's folder, so it is refused rather than taken; numberd verify too.
        let file = try ConfigurationFileTests.configFile(#"{"data-dir": "/srv/numberd"}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let overriding = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": file], environment: ["NUMBERD_DATA_DIR": ""])
        }
        #expect(overriding?.description.hasPrefix("data-dir must name a folder") == true)
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolveStorage(flags: ["config": file], environment: ["NUMBERD_DATA_DIR": ""])
        }
        let flagged = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["tls-cert": "", "tls-key": "/k.pem"], environment: [:])
        }
        #expect(flagged?.description.hasPrefix("tls-cert must name a file") == true, "\(String(describing: flagged))")
        let emptyInFile = try ConfigurationFileTests.configFile(#"{"client-ca": ""}"#)
        defer { try? FileManager.default.removeItem(atPath: emptyInFile) }
        let fromFile = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": emptyInFile], environment: [:])
        }
        #expect(fromFile?.description.hasPrefix("client-ca must name a file") == true)
        let noConfig = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: ["NUMBERD_CONFIG": ""])
        }
        #expect(noConfig?.description.hasPrefix("config must name a file") == true, "\(String(describing: noConfig))")
    }

    /// A config file's unknown key is refused, but a misspelt variable (`NUMBERD_RATE_LIMT=5`) left the default in
    /// force without a word. The start now warns about each `NUMBERD_` variable that names no setting; those numberd
    /// or its tests read themselves are not named, and a flag read from the command line only is said to be one.
    @Test("the NUMBERD_ variables that name no setting are found; settings, test knobs and other variables are not")
    func ignoredVariables() {
        let ignored = NumberdConfiguration.ignoredVariables(in: [
            "NUMBERD_RATE_LIMT": "5", "NUMBERD_DATADIR": "/d", "NUMBERD_REBIND_PROVIDER": "true",
            "NUMBERD_ALLOW_CORE_DUMPS": "true", "NUMBERD_RATE_LIMIT": "5", "NUMBERD_DATA_DIR": "/d",
            "NUMBERD_CONFIG": "/c.json", "NUMBERD_TWILIO_CA_FILE": "/t.pem", "NUMBERD_CRASH_POINT": "x",
            "NUMBERD_CRASH_CYCLES": "5", "NUMBERD_CRASH_SEED": "1", "NUMBERD_SAGA_CRASH_HITS": "2",
            "NUMBERD_FAULT_MODES": "a", "NUMBERD_FAULT_PURCHASES": "3", "NUMBERD_WRITE_STORE_FIXTURE": "1",
            "HOME": "/h", "TWILIO_AUTH_TOKEN": "t",
        ])
        #expect(
            Set(ignored.keys)
                == ["NUMBERD_RATE_LIMT", "NUMBERD_DATADIR", "NUMBERD_REBIND_PROVIDER", "NUMBERD_ALLOW_CORE_DUMPS"])
        #expect(ignored["NUMBERD_RATE_LIMT"]?.contains("names no setting") == true, "\(ignored)")
        #expect(ignored["NUMBERD_REBIND_PROVIDER"] == "--rebind-provider is read from the command line only")
        #expect(ignored["NUMBERD_ALLOW_CORE_DUMPS"] == "--allow-core-dumps is read from the command line only")
        // Every setting's variable is known.
        let every = NumberdConfiguration.fileKeys.map {
            ("NUMBERD_" + $0.uppercased().replacingOccurrences(of: "-", with: "_"), "1")
        }
        #expect(NumberdConfiguration.ignoredVariables(in: Dictionary(uniqueKeysWithValues: every)).isEmpty)
    }

    /// Each refusal names its setting: `--drain-timeout 0` said only "'0' is not a number of seconds between 1 and
    /// 86400" (as did the other intervals, at start and in a SIGHUP reload's log), `--metrics-listen localhost` only
    /// "'localhost' is not host:port".
    @Test(
        "bad values are refused with a clear message naming the setting",
        arguments: [
            ["listen": "localhost"], ["listen": "1.2.3.4:99999"], ["listen": ""], ["metrics-listen": ":80"],
            ["metrics-listen": "localhost"], ["metrics-listen": "of"], ["tls-cert": "a.pem"],
            ["billing-interval": "0"], ["billing-interval": "x"], ["reconcile-interval": "86401"],
            ["snapshot-interval": "-1"], ["drain-timeout": "0"], ["connections-max": "-1"],
            ["connections-per-address-max": "0"], ["rate-limit": "0"],
            ["simulator-seed": "seed"], ["config": "/nonexistent/numberd.json"],
        ])
    func badValues(flags: [String: String]) throws {
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: flags, environment: [:])
        }
        let key = try #require(flags.keys.first)
        #expect(error?.description.contains(key) == true, "\(String(describing: error))")
        // The addresses and intervals quote the value given too.
        if let given = flags[key], !given.isEmpty, key.hasSuffix("listen") || key.hasSuffix("interval") {
            #expect(error?.description.contains("'\(given)'") == true, "\(String(describing: error))")
        }
    }

    /// Found probing the start: `--metrics-listen` on `--listen`'s address failed to bind, saying another process may
    /// hold the port. Refused as a usage error, naming both.
    @Test(
        "metrics-listen on listen's address (or a wildcard on its port) is refused; another port is not",
        arguments: [
            (["metrics-listen": "127.0.0.1:7443"], true), (["metrics-listen": "0.0.0.0:7443"], true),
            (["listen": "0.0.0.0:8443", "metrics-listen": "127.0.0.1:8443"], true),
            (["metrics-listen": "127.0.0.1:7444"], false),
            (["listen": "127.0.0.1:0", "metrics-listen": "127.0.0.1:0"], false),
        ])
    func metricsOnTheRPCAddress(flags: [String: String], refused: Bool) throws {
        do {
            _ = try NumberdConfiguration.resolve(flags: flags, environment: [:])
            #expect(!refused, "\(flags) was taken")
        } catch let error as ConfigurationError {
            #expect(refused, "\(error)")
            #expect(error.description.contains("metrics-listen") && error.description.contains("listen ("), "\(error)")
        }
    }

    /// The same refusals from the environment and the config file, and as SIGHUP's reload resolves a file read again:
    /// `NUMBERD_LISTEN=` (a compose file's unset variable) said "'' is not host:port", a file's
    /// `"reconcile-interval": 0` the interval's unnamed text in the reload's log line.
    @Test("refusals from the environment, the file and a reload name the setting; metrics-listen off in any case")
    func refusalsNameTheirSetting() throws {
        let empty = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: ["NUMBERD_LISTEN": ""])
        }
        #expect(empty?.description.hasPrefix("listen must be host:port") == true, "\(String(describing: empty))")
        #expect(empty?.description.contains("NUMBERD_LISTEN") == true, "\(String(describing: empty))")
        let file = try ConfigurationFileTests.configFile(#"{"reconcile-interval": 0}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let origin = try NumberdConfiguration.Origin(flags: ["config": file], environment: [:])
        let reloaded = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(origin, environment: origin.startEnvironment)
        }
        #expect(
            reloaded?.description == "reconcile-interval must be 1...86400 seconds, not '0'",
            "\(String(describing: reloaded))")
        for off in ["off", "OFF", "Off"] {
            let configuration = try NumberdConfiguration.resolve(flags: ["metrics-listen": off], environment: [:])
            #expect(configuration.metricsListen == nil, "\(off)")
            let fromVariable = try NumberdConfiguration.resolve(
                flags: [:], environment: ["NUMBERD_METRICS_LISTEN": off])
            #expect(fromVariable.metricsListen == nil, "\(off)")
        }
        let intervals = try NumberdConfiguration.resolve(
            flags: ["billing-interval": "1", "drain-timeout": "86400"],
            environment: ["NUMBERD_RECONCILE_INTERVAL": "86400", "NUMBERD_SNAPSHOT_INTERVAL": "1"])
        #expect(intervals.billingIntervalSeconds == 1 && intervals.drainTimeoutSeconds == 86_400)
        #expect(intervals.reconcileIntervalSeconds == 86_400 && intervals.snapshotIntervalSeconds == 1)
        let defaults = try NumberdConfiguration.resolve(flags: [:], environment: [:])
        #expect(defaults.billingIntervalSeconds == 60 && defaults.reconcileIntervalSeconds == 60)
        #expect(defaults.snapshotIntervalSeconds == 300 && defaults.drainTimeoutSeconds == 30)
    }

    /// Twilio credentials in the environment silently beat `simulator-seed`: a developer with them exported who ran
    /// `numberd --simulator-seed 7 --data-dir /tmp/fresh` for a load run bought real numbers. The start is refused
    /// (exit 64), naming both, as a Twilio endpoint setting without credentials is.
    @Test("simulator-seed with Twilio credentials refuses the start, naming both; either alone is taken")
    func simulatorSeedWithTwilioCredentials() async throws {
        let sid = "AC" + String(repeating: "a", count: 32)
        let token = String(repeating: "b", count: 32)
        let twilio = ["HOME": "/home/u", "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token]
        let flagged = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["simulator-seed": "7"], environment: twilio)
        }
        let said = flagged?.description ?? ""
        #expect(said.hasPrefix("simulator-seed (--simulator-seed) set with Twilio credentials"), "\(said)")
        #expect(said.contains("TWILIO_ACCOUNT_SID \(sid)") && said.contains("TWILIO_AUTH_TOKEN"), "\(said)")
        #expect(!said.contains(token), "the secret is in the message")
        var seeded = twilio
        seeded["NUMBERD_SIMULATOR_SEED"] = "7"
        let fromVariable = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: [:], environment: seeded)
        }
        #expect(
            fromVariable?.description.hasPrefix("simulator-seed (NUMBERD_SIMULATOR_SEED) set with Twilio") == true,
            "\(String(describing: fromVariable))")
        let file = try ConfigurationFileTests.configFile(#"{"simulator-seed": 7}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": file], environment: twilio)
        }
        #expect(
            fromFile?.description.hasPrefix("simulator-seed (the config file) set with Twilio") == true,
            "\(String(describing: fromFile))")
        // Either alone is taken; SIGHUP's reload resolves without the credentials' variables, so the file's seed is no
        // refusal there.
        let simulator = try NumberdConfiguration.resolve(flags: ["simulator-seed": "7"], environment: ["HOME": "/h"])
        #expect(simulator.provider == .simulator(seed: 7))
        guard case .twilio = try NumberdConfiguration.resolve(flags: [:], environment: twilio).provider else {
            Issue.record("the credentials did not make Twilio the provider")
            return
        }
        let origin = try NumberdConfiguration.Origin(flags: ["config": file], environment: twilio)
        let reloaded = try NumberdConfiguration.resolve(origin, environment: origin.startEnvironment)
        #expect(reloaded.provider == .simulator(seed: 7))
        // numberd itself: a usage error, exit 64, before anything is opened.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-seed-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("TWILIO_") && !$0.key.hasPrefix("NUMBERD_") && $0.key != "CREDENTIALS_DIRECTORY"
        }
        environment["TWILIO_ACCOUNT_SID"] = sid
        environment["TWILIO_AUTH_TOKEN"] = token
        let result = try await ChildProcess.run(
            try BuiltProduct.path("numberd"),
            ["--simulator-seed", "7", "--data-dir", directory, "--listen", "127.0.0.1:0", "--metrics-listen", "off"],
            environment: environment, timeout: .seconds(30))
        guard !result.timedOut else {
            Issue.record("numberd started with --simulator-seed and Twilio credentials instead of refusing them")
            return
        }
        #expect(result.ending == .exited(64), "\(result.text)")
        #expect(result.text.contains("simulator-seed (--simulator-seed) set with"), "\(result.text)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/provider.json"))
    }
}

/// The log level and the config file's keys: `log-level` is read from flags, the environment and the file like
/// every setting, a level numberd does not know is refused (not read as `info`), and so is a key the file may not
/// hold, by name.
@Suite("numberd configuration: log level and config file keys")
struct ConfigurationFileTests {
    /// Writes `json` to a temporary config file and returns its path.
    static func configFile(_ json: String) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-\(UUID()).json")
        try Data(json.utf8).write(to: file)
        return file.path
    }

    @Test("log-level: the file's, the environment's over it, the flag's over both; info by default")
    func logLevelSources() throws {
        let file = try Self.configFile(#"{"log-level": "debug"}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: [:]).logLevel == .info)
        #expect(try NumberdConfiguration.resolve(flags: ["config": file], environment: [:]).logLevel == .debug)
        let environment = ["NUMBERD_LOG_LEVEL": "warning"]
        #expect(
            try NumberdConfiguration.resolve(flags: ["config": file], environment: environment).logLevel == .warning)
        let flagged = try NumberdConfiguration.resolve(
            flags: ["config": file, "log-level": "error"], environment: environment)
        #expect(flagged.logLevel == .error)
    }

    @Test("a log level numberd does not know is refused, naming the ones it knows", arguments: ["verbose", "INFO", ""])
    func unknownLogLevel(level: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["log-level": level], environment: [:])
        }
        #expect(error?.description.contains("log-level") == true, "\(String(describing: error))")
        #expect(error?.description.contains("notice") == true, "\(String(describing: error))")
    }

    @Test(
        "a config file key numberd does not know is refused by name",
        arguments: ["rate_limit", "config", "graceperiod"])
    func unknownFileKey(key: String) throws {
        let file = try Self.configFile(#"{"listen": "127.0.0.1:1111", "\#(key)": 50}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": file], environment: [:])
        }
        #expect(error?.description.contains("unknown key '\(key)'") == true, "\(String(describing: error))")
        // numberd verify reads the same file: refused alike.
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolveStorage(flags: ["config": file], environment: [:])
        }
    }

    @Test("every key the file may hold is taken")
    func everyKnownKey() throws {
        let values: [String: String] = [
            "listen": "127.0.0.1:1111", "data-dir": "/d", "metrics-listen": "off", "tls-cert": "/c.pem",
            "tls-key": "/k.pem", "client-ca": "/ca.pem", "simulator-seed": "3", "rate-limit": "10",
            "purchase-cap": "5", "connections-max": "10", "billing-interval": "30", "grace-period": "0",
            "reconcile-interval": "30", "snapshot-interval": "30", "snapshot-bytes-max": "1024",
            "drain-timeout": "5", "reconcile-in-flight-horizon": "60", "orphan-watch": "0", "log-level": "debug",
            "twilio-base-url": "https://127.0.0.1:1", "twilio-ca-file": "/t.pem", "twilio-timeout-ms": "1000",
            "clock-lead-max": "60", "partial-frame-bytes-max": "5000000", "unsent-reply-bytes-max": "6000000",
            "connections-per-address-max": "7", "provider-audit-interval": "0", "provider-audit-recheck": "10",
            "twilio-bundles": "GB=BU" + String(repeating: "a", count: 32), "backup-dir": "/b", "backups-kept": "3",
            "pricing-markup-percent": "30", "pricing-minimum-monthly-fee": "50", "pricing-default-setup-fee": "10",
            "pricing-setup-fees": "GB/toll_free=150",
        ]
        #expect(Set(values.keys) == NumberdConfiguration.fileKeys)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: values), as: UTF8.self)
        let file = try Self.configFile(json)
        defer { try? FileManager.default.removeItem(atPath: file) }
        // As SIGHUP's reload resolves the file: a start refuses the Twilio endpoint keys without Twilio credentials
        // (``ConfigurationTests``), and with them it would read the CA file `/t.pem`.
        let origin = try NumberdConfiguration.Origin(flags: ["config": file], environment: [:])
        let configuration = try NumberdConfiguration.resolve(origin, environment: [:])
        #expect(configuration.listen.port == 1111)
        #expect(configuration.gracePeriodSeconds == 0)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.clockLeadMaxSeconds == 60)
        #expect(configuration.providerAuditIntervalSeconds == 0 && configuration.providerAuditRecheckSeconds == 10)
        #expect(configuration.connectionLimits.partialFrameBytesMax == 5_000_000)
        #expect(configuration.connectionLimits.unsentReplyBytesMax == 6_000_000)
        #expect(configuration.connectionLimits.connectionsPerAddressMax == 7)
        #expect(configuration.twilioBundles == ["GB": "BU" + String(repeating: "a", count: 32)])
        #expect(configuration.backupDirectory == "/b" && configuration.backupsKept == 3)
        #expect(configuration.pricing.markupPercent == 30 && configuration.pricing.minimumMonthlyFee == 50)
        #expect(configuration.pricing.defaultSetupFee == 10 && configuration.pricing.setupFees == ["GB/toll_free": 150])
    }

    @Test(
        "backups go to <data-dir>/backups, 7 kept, unless set; a folder in the store and counts out of 1...1000 are refused"
    )
    func backupSettings() throws {
        let defaults = try NumberdConfiguration.resolveStorage(flags: ["data-dir": "/d"], environment: [:])
        #expect(defaults.backupDirectory == "/d/backups" && defaults.backupsKept == 7)
        let set = try NumberdConfiguration.resolveStorage(
            flags: ["data-dir": "/d", "backups-kept": "1000"], environment: ["NUMBERD_BACKUP_DIR": "/mnt/b"])
        #expect(set.backupDirectory == "/mnt/b" && set.backupsKept == 1000)
        for (flags, message) in [
            (["backup-dir": "/d/store"], "backup-dir must not be the store folder"),
            (["backup-dir": "/d/./store/x"], "backup-dir must not be the store folder"),
            (["backup-dir": ""], "backup-dir must name a folder"),
            (["backups-kept": "0"], "backups-kept must be 1...1000"),
            (["backups-kept": "1001"], "backups-kept must be 1...1000"),
        ] {
            let error = #expect(throws: ConfigurationError.self) {
                try NumberdConfiguration.resolve(
                    flags: flags.merging(["data-dir": "/d"]) { a, _ in a }, environment: [:])
            }
            #expect(error?.description.contains(message) == true, "\(flags): \(String(describing: error))")
        }
        // Through a symbolic link into the store.
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-backup-dir-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: data) }
        try FileManager.default.createDirectory(atPath: data + "/store", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: data + "/into-store", withDestinationPath: data + "/store")
        let linked = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolveStorage(
                flags: ["data-dir": data, "backup-dir": data + "/into-store/backups"], environment: [:])
        }
        #expect(linked?.description.contains("must not be the store folder") == true)
        // A sibling whose name starts like the store's is not inside it.
        #expect(
            try NumberdConfiguration.resolveStorage(
                flags: ["data-dir": "/d", "backup-dir": "/d/store-backups"],
                environment: [:]
            ).backupDirectory == "/d/store-backups")
    }

    /// JSON `true` and `false` were read through `NSNumber.stringValue` as 1 and 0: `"grace-period": true` was a grace
    /// period of one second, `"clock-lead-max": false` turned the clock check off. No key takes a boolean, so one is
    /// refused by name; the numbers 1 and 0 are still numbers (on Linux an `NSNumber` 1 casts to `Bool`, so the check
    /// must look at the number's type).
    @Test("a JSON true or false is refused by name, at start and by a reload; the numbers 1 and 0 are taken")
    func booleansAreRefused() throws {
        let booleans = [
            ("grace-period", "true"), ("clock-lead-max", "false"), ("connections-max", "true"), ("rate-limit", "false"),
        ]
        for (key, boolean) in booleans {
            let file = try Self.configFile(#"{"\#(key)": \#(boolean)}"#)
            defer { try? FileManager.default.removeItem(atPath: file) }
            let error = #expect(throws: ConfigurationError.self) {
                try NumberdConfiguration.resolve(flags: ["config": file], environment: [:])
            }
            #expect(
                error?.description.contains("\(key) must be a string or a number, not \(boolean)") == true,
                "\(String(describing: error))")
            #expect(throws: ConfigurationError.self) { try NumberdConfiguration.loadFile(file, regularOnly: true) }
        }
        let numbers = try Self.configFile(#"{"grace-period": 1, "clock-lead-max": 0, "connections-max": 1}"#)
        defer { try? FileManager.default.removeItem(atPath: numbers) }
        #expect(
            try NumberdConfiguration.loadFile(numbers)
                == ["grace-period": "1", "clock-lead-max": "0", "connections-max": "1"])
        let configuration = try NumberdConfiguration.resolve(flags: ["config": numbers], environment: [:])
        #expect(configuration.gracePeriodSeconds == 1 && configuration.clockLeadMaxSeconds == 0)
        #expect(configuration.connectionLimits.connectionsMax == 1)
    }

    /// `--rebind-provider` would stay set in a file and disarm the provider binding for good: it is no file key.
    @Test("rebind-provider in a config file is refused")
    func rebindProviderIsNoFileKey() throws {
        let file = try Self.configFile(#"{"rebind-provider": true}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": file], environment: [:])
        }
    }

    @Test("the default data directory is $XDG_DATA_HOME/numberd when it is set, as the README says")
    func xdgDataHome() throws {
        let configuration = try NumberdConfiguration.resolve(
            flags: [:], environment: ["HOME": "/home/u", "XDG_DATA_HOME": "/home/u/data"])
        #expect(configuration.dataDirectory == "/home/u/data/numberd")
    }

    @Test("numberd with a log level it does not know exits at once with a usage error that names it")
    func refusedAtStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await ChildProcess.run(
            try BuiltProduct.path("numberd"),
            ["--log-level", "verbose", "--data-dir", directory, "--listen", "127.0.0.1:0", "--metrics-listen", "off"],
            timeout: .seconds(30))
        guard !result.timedOut else {
            Issue.record("numberd started with --log-level verbose instead of refusing it")
            return
        }
        let (ending, text) = (result.ending, result.text)
        #expect(ending == .exited(64), "\(text)")
        #expect(text.contains("log-level 'verbose'"), "\(text)")
    }

    /// libcurl takes its proxy from the environment; numberd's default run asked a proxy set there (a corporate
    /// `HTTPS_PROXY` without `NO_PROXY=127.0.0.1`) to reach the in-process simulator on loopback, so every search,
    /// purchase and release failed. The simulator is now reached directly; Twilio still honours the environment.
    @Test("the default run reaches its simulator on loopback even with a proxy in the environment")
    func defaultRunIgnoresTheEnvironmentsProxy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-proxy-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freeLoopbackPort()
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numberd"))
        process.arguments = ["--data-dir", directory, "--listen", "127.0.0.1:\(port)", "--metrics-listen", "off"]
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("TWILIO_") && !$0.key.hasPrefix("NUMBERD_") && !$0.key.lowercased().hasSuffix("_proxy")
        }
        // Port 9 (discard) on loopback: nothing listens, so a request sent through it fails at once.
        for name in ["https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"] {
            environment[name] = "http://127.0.0.1:9"
        }
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.send(SIGKILL) } }
        // The port was free a moment ago; a child that could not bind it (another test took it) exits: say so at
        // once rather than time out on a connection.
        let deadline = ContinuousClock.now + .seconds(60)
        while !acceptsConnections(port: port) {
            try #require(process.isRunning, "numberd exited (\(process.terminationStatus)) before listening on \(port)")
            try #require(ContinuousClock.now < deadline, "numberd did not listen on \(port) within 60 s")
            try await Task.sleep(for: .milliseconds(100))
        }
        let adminKey = try String(contentsOfFile: directory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let client = NumbersClientConfiguration(
            host: "127.0.0.1", port: port, apiKey: adminKey, trustRoots: .file(directory + "/tls/ca.pem"),
            retry: .none)
        let found = try await withNumbersClient(client) { admin in
            let account = try await admin.createAccount(CreateAccountRequest(name: "a", currency: "USD")).account
            return try await admin.searchNumbers(SearchNumbersRequest(accountId: account.id, country: "US"))
        }
        #expect(!found.numbers.isEmpty)
        process.send(SIGTERM)
        #expect(await ChildExit.wait(process, timeout: .seconds(30)) != nil)
    }
}

/// Twilio refuses most numbers outside the US and Canada without an approved regulatory Bundle (21649): numberd sends
/// the one configured for the number's country. A setting it cannot use is refused at start, naming what is wrong,
/// rather than sent to Twilio on a customer's purchase.
@Suite("numberd configuration: Twilio regulatory Bundles")
struct TwilioBundleConfigurationTests {
    static let gb = "BU" + String(repeating: "0123456789abcdef", count: 2)
    static let au = "BU" + String(repeating: "FEDCBA9876543210", count: 2)

    @Test("none by default; from the flag, the environment or the file, as COUNTRY=SID entries separated by commas")
    func sources() throws {
        #expect(try NumberdConfiguration.resolve(flags: [:], environment: [:]).twilioBundles.isEmpty)
        let flagged = try NumberdConfiguration.resolve(
            flags: ["twilio-bundles": "GB=\(Self.gb), AU=\(Self.au)"], environment: [:])
        #expect(flagged.twilioBundles == ["GB": Self.gb, "AU": Self.au])
        let environment = try NumberdConfiguration.resolve(
            flags: [:], environment: ["NUMBERD_TWILIO_BUNDLES": "AU=\(Self.au)"])
        #expect(environment.twilioBundles == ["AU": Self.au])
        let file = try ConfigurationFileTests.configFile(
            #"{"twilio-bundles": {"GB": "\#(Self.gb)", "AU": "\#(Self.au)"}}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fromFile = try NumberdConfiguration.resolve(flags: ["config": file], environment: [:])
        #expect(fromFile.twilioBundles == ["GB": Self.gb, "AU": Self.au])
        // The flag wins over the file.
        let both = try NumberdConfiguration.resolve(
            flags: ["config": file, "twilio-bundles": "GB=\(Self.au)"], environment: [:])
        #expect(both.twilioBundles == ["GB": Self.au])
    }

    @Test(
        "a country that is not an ISO code in upper case is refused by name",
        arguments: ["gb", "GBR", "G", "", "1B", "ÉE"])
    func invalidCountry(country: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["twilio-bundles": "\(country)=\(Self.gb)"], environment: [:])
        }
        #expect(
            error?.description.contains("'\(country)' is not an ISO 3166-1") == true, "\(String(describing: error))")
    }

    @Test(
        "a SID that is not BU and 32 hex digits is refused by name",
        arguments: [
            "", "BU", "BU" + String(repeating: "0", count: 31), "BU" + String(repeating: "0", count: 33),
            "AD" + String(repeating: "0", count: 32), "bu" + String(repeating: "0", count: 32),
            "BU" + String(repeating: "g", count: 32),
        ])
    func invalidSid(sid: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["twilio-bundles": "GB=\(sid)"], environment: [:])
        }
        #expect(
            error?.description.contains("'\(sid)' for GB is not a Bundle SID") == true, "\(String(describing: error))")
    }

    @Test(
        "an entry that is not COUNTRY=SID, or a country given twice, is refused",
        arguments: [
            "GB", "GB=\(TwilioBundleConfigurationTests.gb),", ",GB=\(TwilioBundleConfigurationTests.gb)",
            "GB=\(TwilioBundleConfigurationTests.gb),GB=\(TwilioBundleConfigurationTests.au)",
            "GB:\(TwilioBundleConfigurationTests.gb)",
        ])
    func malformedList(text: String) {
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["twilio-bundles": text], environment: [:])
        }
    }

    /// Blank text or `{}` is "none" (how the environment clears a file's setting); a line break around an entry is a
    /// blank like a space (review findings: both refused the start).
    @Test("blank text or an empty object is none; line breaks around entries are blanks")
    func blankIsNone() throws {
        for blank in ["", " ", "\n"] {
            #expect(
                try NumberdConfiguration.resolve(flags: ["twilio-bundles": blank], environment: [:]).twilioBundles
                    .isEmpty)
        }
        let file = try ConfigurationFileTests.configFile(#"{"twilio-bundles": {}}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try NumberdConfiguration.resolve(flags: ["config": file], environment: [:]).twilioBundles.isEmpty)
        let cleared = try NumberdConfiguration.resolve(
            flags: ["config": file], environment: ["NUMBERD_TWILIO_BUNDLES": ""])
        #expect(cleared.twilioBundles.isEmpty)
        let padded = try NumberdConfiguration.resolve(flags: ["twilio-bundles": "GB=\(Self.gb)\n"], environment: [:])
        #expect(padded.twilioBundles == ["GB": Self.gb])
    }

    @Test("an entry may name a number type: GB/local, GB/mobile, GB/toll_free; another type is refused by name")
    func perType() throws {
        let typed = try NumberdConfiguration.resolve(
            flags: ["twilio-bundles": "GB=\(Self.gb), GB/toll_free=\(Self.au), GB/local=\(Self.gb)"], environment: [:])
        #expect(typed.twilioBundles == ["GB": Self.gb, "GB/toll_free": Self.au, "GB/local": Self.gb])
        for bad in ["GB/fax", "GB/", "GB/Local", "GB/toll-free"] {
            let error = #expect(throws: ConfigurationError.self, "\(bad)") {
                try NumberdConfiguration.resolve(flags: ["twilio-bundles": "\(bad)=\(Self.gb)"], environment: [:])
            }
            #expect(error?.description.contains("is not a number type") == true, "\(String(describing: error))")
        }
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(
                flags: ["twilio-bundles": "GB/local=\(Self.gb),GB/local=\(Self.au)"], environment: [:])
        }
    }

    @Test("a config file's twilio-bundles object with a value that is not a string is refused")
    func fileObjectValues() throws {
        let file = try ConfigurationFileTests.configFile(#"{"twilio-bundles": {"GB": 1}}"#)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": file], environment: [:])
        }
    }
}

/// A value a thread sets before it signals the semaphore its reader waits on.
private final class ResultBox<T>: @unchecked Sendable { var value: T? }

/// The config file is read through one descriptor, `fstat`ed (a regular file; at start a pipe too), and never more than
/// 1 MiB + 1 byte of it: it was read whole before its size was checked (a 2 GiB file read into memory, on the
/// cooperative pool at each SIGHUP), and a reload `stat`ed the path and then opened it, so a file replaced by a named
/// FIFO in between hung the reload.
@Suite("numberd configuration: reading the config file")
struct ConfigurationFileReadingTests {
    /// `body`'s result when it returns within `seconds` on a thread of its own, else nil (the thread is left to
    /// `unblock`, called then).
    static func within<T: Sendable>(
        _ seconds: Double, unblock: @Sendable () -> Void = {}, _ body: @escaping @Sendable () -> T
    ) -> T? {
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Thread {
            box.value = body()
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + seconds) == .success else {
            unblock()
            return nil
        }
        return box.value
    }

    /// The error `loadFile` throws, described ("" when it returned).
    static func refusal(_ path: String, regularOnly: Bool = false) -> String {
        do {
            _ = try NumberdConfiguration.loadFile(path, regularOnly: regularOnly)
            return ""
        } catch {
            return "\(error)"
        }
    }

    static func folder() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-config-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return folder
    }

    @Test("exactly 1 MiB is read, one byte more refused; a sparse 2 GiB file is refused by its size, unread")
    func sizeLimit() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let json = #"{"log-level": "debug"}"#
        let exact = folder + "/exact.json"
        let padding = String(repeating: " ", count: NumberdConfiguration.configFileBytesMax - json.utf8.count)
        try Data((json + padding).utf8).write(to: URL(fileURLWithPath: exact))
        #expect(try NumberdConfiguration.loadFile(exact, regularOnly: true) == ["log-level": "debug"])
        let over = folder + "/over.json"
        try Data((json + padding + " ").utf8).write(to: URL(fileURLWithPath: over))
        #expect(Self.refusal(over).contains("larger than 1 MiB (1048577 bytes)"), "\(Self.refusal(over))")
        // 2 GiB of holes: refused by what fstat says, at once, with nothing read into memory.
        let huge = folder + "/huge.json"
        #expect(FileManager.default.createFile(atPath: huge, contents: Data(json.utf8)))
        #expect(truncate(huge, 2 << 30) == 0)
        // The size said is fstat's: a reader stopping past the limit would say 1048577 bytes, as above. What this
        // process read meanwhile (other tests' reads included) stays far below the file's 2 GiB.
        let readBefore = try Self.bytesReadByProcess()
        let said = Self.within(30) { Self.refusal(huge, regularOnly: true) }
        #expect(said?.contains("larger than 1 MiB (2147483648 bytes)") == true, "\(String(describing: said))")
        let read = try Self.bytesReadByProcess() - readBefore
        #expect(read < 1 << 30, "\(read) bytes read")
    }

    /// The bytes this process has read by `read` and its kin (`rchar` of /proc/self/io), from any file.
    static func bytesReadByProcess() throws -> Int {
        let io = try String(contentsOfFile: "/proc/self/io", encoding: .utf8)
        let line = io.split(separator: "\n").first { $0.hasPrefix("rchar:") }
        return try #require(line.flatMap { Int($0.dropFirst("rchar:".count).trimmingCharacters(in: .whitespaces)) })
    }

    @Test("a pipe at start is read up to the limit, not to its end: one that never ends is refused past 1 MiB")
    func endlessPipeAtStart() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        let (reader, writer) = (ends[0], ends[1])
        let release = DispatchSemaphore(value: 0)
        // Writes 1 MiB and 4 KiB, then keeps the pipe open until the test is done with it.
        Thread {
            let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 4096)
            for _ in 0...(NumberdConfiguration.configFileBytesMax / 4096) {
                var sent = 0
                while sent < chunk.count {
                    let got = chunk.withUnsafeBytes { write(writer, $0.baseAddress! + sent, chunk.count - sent) }
                    if got < 0 { break }
                    sent += got
                }
            }
            release.wait()
            close(writer)
        }.start()
        defer { close(reader) }
        let said = Self.within(30, unblock: { release.signal() }) { Self.refusal("/dev/fd/\(reader)") }
        #expect(said?.contains("holds more than 1 MiB") == true, "\(String(describing: said))")
        if said != nil { release.signal() }
    }

    @Test("a named FIFO: a reload says it is no regular file at once; a start refuses one nobody writes, unhung")
    func fifoIsNotWaitedFor() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fifo = folder + "/numberd.json"
        try #require(mkfifo(fifo, 0o600) == 0)
        // A blocked open of the FIFO returns once a writer opens it.
        let unblock: @Sendable () -> Void = {
            let descriptor = open(fifo, O_WRONLY | O_NONBLOCK)
            if descriptor >= 0 { close(descriptor) }
        }
        let reload = Self.within(10, unblock: unblock) { () -> String in
            do {
                _ = try NumberdConfiguration.loadFile(fifo, regularOnly: true)
                return "read"
            } catch let error as NumberdConfiguration.NotARegularFile {
                return "not regular: \(error)"
            } catch {
                return "\(error)"
            }
        }
        #expect(reload?.hasPrefix("not regular") == true, "\(String(describing: reload))")
        let start = Self.within(10, unblock: unblock) { Self.refusal(fifo) }
        #expect(start?.contains("is not a JSON object") == true, "\(String(describing: start))")
        // A device is no config file either.
        #expect(Self.refusal("/dev/zero").contains("is not a regular file or a pipe"))
        #expect(Self.refusal("/dev/zero", regularOnly: true).contains("is not a regular file"))
    }
}
