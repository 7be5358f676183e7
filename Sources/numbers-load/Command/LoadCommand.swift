import ArgumentParser

/// `numbers-load`: the load-testing harness of numberd.
@main
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "numbers-load",
        abstract: "Load-test a local numberd over real RPCs (closed or open loop) and its raw TLS transport.",
        discussion: """
            With no connection flags it targets the local default server (127.0.0.1:7443) with the admin key and \
            CA of the local data directory, like the `numbers` CLI, and refuses a data directory bound to Twilio \
            (its provider.json) unless --allow-provider-charges. It sets up its own accounts, keys and funds \
            through the admin API. Run numberd with --rate-limit and --purchase-cap above the load you apply, or \
            the run measures the rate limiter.
            """,
        subcommands: [RunLoad.self, RawServerCommand.self, ConnectionsCommand.self],
        defaultSubcommand: RunLoad.self)
}
