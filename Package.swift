// swift-tools-version:6.1
import PackageDescription

/// Strict settings shared by every Swift target: Swift 6 language mode (complete strict concurrency)
/// and warnings treated as errors, so a warning can never land.
let strict: [SwiftSetting] = [
    .unsafeFlags(["-warnings-as-errors"])
]

let package = Package(
    name: "numberd",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "NumberWire", targets: ["NumberWire"]),
        .library(name: "NumberAPI", targets: ["NumberAPI"]),
        .library(name: "NumberTLS", targets: ["NumberTLS"]),
        .library(name: "NumberCore", targets: ["NumberCore"]),
        .library(name: "TwilioSimulator", targets: ["TwilioSimulator"]),
        .library(name: "NumberServer", targets: ["NumberServer"]),
        .library(name: "NumberClient", targets: ["NumberClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        // C system libraries: the Debian packages libssl-dev and libcurl4-openssl-dev.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),

        // The wire: protobuf codec for Codable types and the nrpc/1 framing. NIOCore only.
        .target(
            name: "NumberWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // The contract in Swift: messages mirroring proto/numbers/v1/numbers.proto, methods, status codes.
        .target(
            name: "NumberAPI",
            dependencies: ["NumberWire"],
            swiftSettings: strict
        ),
        // Counts malloc calls in the process that links it (glibc only), for allocation figures in benchmarks.
        .target(name: "CAllocationCounter"),
        // Live heap bytes from glibc (malloc_info), for memory figures not blurred by freed memory the allocator keeps.
        .target(name: "CMallocInfo"),
        // CRC-32C with the CPU's CRC32 instruction (journal and snapshot checksums).
        .target(name: "CCRC32C"),
        // prctl(2), which is variadic and so not callable from Swift: numberd turns core dumps off with it.
        .target(name: "CProcessControl"),
        // Protobuf codec vs Foundation JSON on NumberAPI messages: `swift run -c release CodecBenchmark`.
        .executableTarget(
            name: "CodecBenchmark",
            dependencies: ["NumberAPI", "NumberWire", "CAllocationCounter"],
            swiftSettings: strict
        ),
        // TLS on the system OpenSSL for SwiftNIO, and certificate tooling.
        .target(
            name: "NumberTLS",
            dependencies: [
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // HTTP client over the system libcurl (multi interface on a dedicated thread).
        .target(
            name: "CurlHTTP",
            dependencies: ["CCurl", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Accounts, ledger, numbers, billing, the purchase saga, the JSON store, the Twilio adapter. No NIO.
        .target(
            name: "NumberCore",
            dependencies: [
                "CurlHTTP",
                "COpenSSL",
                "CCRC32C",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // A local HTTPS server that speaks Twilio's REST API, for tests and the default run.
        .target(
            name: "TwilioSimulator",
            dependencies: [
                "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The Twilio simulator as a command-line server.
        .executableTarget(
            name: "twilio-sim",
            dependencies: [
                "TwilioSimulator",
                "NumberTLS",
                // Only for the package's version (NumberdVersion), which `twilio-sim --version` prints.
                "NumberAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // The RPC server: nrpc/1 connections over TLS, calls dispatched to the core.
        .target(
            name: "NumberServer",
            dependencies: [
                "NumberAPI",
                "NumberCore",
                "NumberWire",
                "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The Swift client library: multiplexed calls, pooling, deadlines, retries.
        .target(
            name: "NumberClient",
            dependencies: [
                "NumberAPI",
                "NumberWire",
                "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),

        // Child process of the journal crash tests: appends, prints each acknowledged seq, gets SIGKILLed.
        .executableTarget(
            name: "StoreCrashChild",
            dependencies: ["NumberCore"],
            swiftSettings: strict
        ),
        // Journal benchmark: group-commit appends/s vs serial write+fdatasync, replay speed.
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: ["NumberCore"],
            swiftSettings: strict
        ),

        // Core benchmark: durable purchases/s through NumberService on a FileNumberStore, replay, memory per number.
        .executableTarget(
            name: "CoreBenchmark",
            dependencies: ["NumberCore", "CMallocInfo", "CAllocationCounter"],
            swiftSettings: strict
        ),
        // Twilio adapter benchmark: TwilioProvider calls/s and latency against the in-process simulator over HTTPS.
        .executableTarget(
            name: "TwilioAdapterBenchmark",
            dependencies: [
                "NumberCore",
                "CurlHTTP",
                "TwilioSimulator",
                "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // TLS echo benchmark over loopback: the ceiling the RPC layer is measured against.
        .executableTarget(
            name: "TLSBenchmark",
            dependencies: [
                "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // numberd assembled: configuration, data directory, provider, store, background services.
        .target(
            name: "NumberDaemon",
            dependencies: [
                "CProcessControl",
                "NumberAPI",
                "NumberServer",
                "NumberCore",
                "NumberTLS",
                "TwilioSimulator",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "numberd",
            dependencies: [
                "NumberDaemon",
                "NumberCore",
                "NumberTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Fuzzing: the check functions every fuzz target runs, shared with FuzzReplayTests so CI replays the
        // corpus without a fuzzer build. Each FuzzX executable is built with
        // `swift build --sanitize=fuzzer -Xswiftc -DFUZZING --product FuzzX --scratch-path .build-fuzz`
        // (RELIABILITY.md); a normal build makes it a replay tool over files given as arguments.
        .target(
            name: "FuzzChecks",
            dependencies: [
                "NumberWire",
                "NumberAPI",
                "NumberCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "FuzzFrameDecoder", dependencies: ["FuzzChecks"], swiftSettings: strict),
        .executableTarget(name: "FuzzMessageDecoder", dependencies: ["FuzzChecks"], swiftSettings: strict),
        .executableTarget(name: "FuzzJournalRecord", dependencies: ["FuzzChecks"], swiftSettings: strict),
        .executableTarget(name: "FuzzSnapshot", dependencies: ["FuzzChecks"], swiftSettings: strict),

        // The `numbers` CLI for operators.
        .executableTarget(
            name: "numbers",
            dependencies: [
                "NumberClient",
                "NumberAPI",
                "NumberTLS",
                "ProcessSignals",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // SIGINT/SIGTERM/SIGHUP through dispatch sources with none lost while libdispatch registers them: the `numbers`
        // CLI's and the load harness's interruption handling.
        .target(name: "ProcessSignals", swiftSettings: strict),

        // The load-testing harness: closed/open-loop RPC load, the raw TLS baseline, connection scale.
        .executableTarget(
            name: "numbers-load",
            dependencies: [
                "NumberClient", "NumberAPI", "NumberWire", "NumberTLS", "ProcessSignals",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),

        // glibc's posix_spawn file actions behind _GNU_SOURCE (close every descriptor from 3 up, change directory), for
        // TestSupport.SpawnedProcess.
        .target(name: "CPosixSpawn", path: "Tests/CPosixSpawn"),
        // What several test targets share: finding the executables they run as child processes, and starting them
        // (SpawnedProcess: Foundation's Process.run() could crash the test process), and a seeded generator.
        .target(
            name: "TestSupport",
            dependencies: ["CPosixSpawn", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(
            name: "NumberWireTests",
            dependencies: [
                "NumberWire", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NumberAPITests",
            dependencies: ["NumberAPI", "NumberWire", "TestSupport"],
            exclude: [
                "CrossCheck/crosscheck.py", "CrossCheck/generate_vectors.py", "CrossCheck/vectors.json",
                "CrossCheck/vectors.generated.json", "CrossCheck/noncanonical.json",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NumberTLSTests",
            dependencies: [
                "NumberTLS", "TestSupport", "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NumberServerTests",
            dependencies: [
                "NumberServer", "NumberClient", "NumberCore", "NumberTLS", "NumberAPI", "NumberWire", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NumberClientTests",
            dependencies: [
                "NumberClient", "NumberWire", "NumberAPI", "NumberTLS", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The `numbers` CLI, run as a process (the build's own binary) against a stub server; its pure parts (the
        // interruption rules) tested as values.
        .testTarget(
            name: "numbersTests",
            dependencies: [
                "numbers", "NumberServer", "NumberAPI", "NumberTLS", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "numbers-loadTests",
            dependencies: [
                "numbers-load", "NumberAPI", "NumberClient", "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "NumberDaemonTests",
            dependencies: [
                "CProcessControl", "NumberDaemon", "NumberClient", "NumberAPI", "TwilioSimulator", "CurlHTTP",
                "NumberCore", "NumberServer", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["PythonClient"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "FuzzReplayTests",
            dependencies: [
                "FuzzChecks", "NumberWire", "NumberAPI", "NumberCore", .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ProcessSignalsTests", dependencies: ["ProcessSignals"], swiftSettings: strict),
        .testTarget(name: "CurlHTTPTests", dependencies: ["CurlHTTP", "CCurl", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "NumberCoreTests",
            // The Twilio adapter's tests run against the simulator over real HTTPS (NumberTLS) on loopback; its
            // metrics go to a Prometheus registry of the test's own.
            dependencies: [
                "NumberCore", "CurlHTTP", "TwilioSimulator", "NumberTLS", "TestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The store fixtures, read from the source tree (never regenerated: Fixtures/README.md), and the generator
            // of Sources/NumberCore/Service/CallingCodes.swift.
            exclude: ["Fixtures", "CallingCodes/generate_calling_codes.py"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "TwilioSimulatorTests",
            dependencies: [
                "TwilioSimulator",
                "NumberTLS",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // The schema check (Python) and the Twilio OpenAPI subsets it validates against.
            exclude: ["Schemas"],
            swiftSettings: strict
        ),
    ]
)
