import ArgumentParser

@main
struct GRPCBaseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpc-baseline",
        abstract: "grpc-swift-2 unary calls over HTTP/2 + TLS: a baseline server and a closed-loop load client.",
        subcommands: [ServerCommand.self, LoadCommand.self]
    )
}
