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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
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
            dependencies: ["CCurl"],
            swiftSettings: strict
        ),
        // Accounts, ledger, numbers, billing, the purchase saga, the JSON store, the Twilio adapter. No NIO.
        .target(
            name: "NumberCore",
            dependencies: [
                "CurlHTTP",
                "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
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
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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

        .testTarget(
            name: "NumberWireTests",
            dependencies: [
                "NumberWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "NumberAPITests", dependencies: ["NumberAPI"], swiftSettings: strict),
        .testTarget(
            name: "NumberTLSTests",
            dependencies: [
                "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "CurlHTTPTests", dependencies: ["CurlHTTP"], swiftSettings: strict),
        .testTarget(name: "NumberCoreTests", dependencies: ["NumberCore"], swiftSettings: strict),
        .testTarget(
            name: "TwilioSimulatorTests",
            dependencies: [
                "TwilioSimulator",
                "NumberTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // The schema check (Python) and the Twilio OpenAPI subsets it validates against.
            exclude: ["Schemas"],
            swiftSettings: strict
        ),
    ]
)
