import NIOCore
import NumberWire

extension NumbersClientConfiguration {
    /// A field of a configuration holding a value the client cannot work with.
    public struct ConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The field, as its path from the configuration reads: `connectionPoolSize`, `liveness.pingTimeout`.
        public var field: String
        /// What is wrong with its value.
        public var message: String

        /// Names the field and what is wrong with its value.
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }

        /// `NumbersClientConfiguration.<field>: <message>`.
        public var description: String { "NumbersClientConfiguration.\(field): \(message)" }

        /// The same error for the configuration holding the policy whose field this names, at `path`.
        func under(_ path: String) -> ConfigurationError {
            ConfigurationError(field: "\(path).\(field)", message: message)
        }
    }

    /// Checks every field, the nested policies' and settings' too; throws for the first whose value the client
    /// cannot work with, naming it. The initializer runs it and traps (its arguments are the program's own);
    /// `NumbersClient(configuration:)` runs it again and throws, since every field is a `var` that may have been set
    /// since: a pool of 0 connections would fail every call `CLIENT_CLOSED`, a negative `queuedCallsMax` or a PING
    /// timeout of zero would trap when the first connection is made.
    public func validate() throws(ConfigurationError) {
        try Self.check(!host.isEmpty, "host", "empty: give the server's host name or IP address")
        try Self.check((1...65535).contains(port), "port", "\(port) is not a TCP port (1...65535)")
        if let serverHostname {
            try Self.check(!serverHostname.isEmpty, "serverHostname", "empty: nil checks the certificate for host")
        }
        try Self.check(connectionPoolSize >= 1, "connectionPoolSize", "\(connectionPoolSize): at least 1 connection")
        try Self.check(connectTimeout > .zero, "connectTimeout", "\(connectTimeout): must be positive")
        try Self.check(handshakeTimeout > .zero, "handshakeTimeout", "\(handshakeTimeout): must be positive")
        try Self.check(defaultTimeout > .zero, "defaultTimeout", "\(defaultTimeout): must be positive")
        try Self.check(queuedCallsMax >= 0, "queuedCallsMax", "\(queuedCallsMax): must not be negative (0: none waits)")
        try Self.check(
            poolWaitingCallsMax >= 1, "poolWaitingCallsMax",
            "\(poolWaitingCallsMax): must be at least 1 (a call waits for the first connection)")
        do throws(ConfigurationError) {
            try retry.validate()
        } catch {
            throw error.under("retry")
        }
        do throws(ConfigurationError) {
            try liveness.validate()
        } catch {
            throw error.under("liveness")
        }
        for identifier in ConnectionSettings.Identifier.allCases {
            let value = settings[identifier]
            try Self.check(
                identifier.range.contains(value), "settings.\(identifier)",
                "\(value) is outside \(identifier.range), which the server would refuse")
        }
    }

    /// Throws a ``ConfigurationError`` for `field` with `message` unless `holds`.
    static func check(
        _ holds: Bool, _ field: String, _ message: @autoclosure () -> String
    ) throws(ConfigurationError) {
        guard holds else { throw ConfigurationError(field: field, message: message()) }
    }
}

extension NumbersClientConfiguration.RetryPolicy {
    /// Checks every field of the policy, as ``NumbersClientConfiguration/validate()`` does (which names them under
    /// `retry.`).
    public func validate() throws(NumbersClientConfiguration.ConfigurationError) {
        typealias Configuration = NumbersClientConfiguration
        try Configuration.check(attemptsMax >= 1, "attemptsMax", "\(attemptsMax): at least 1 (the call itself)")
        try Configuration.check(initialBackoff >= .zero, "initialBackoff", "\(initialBackoff): must not be negative")
        try Configuration.check(
            backoffMax >= initialBackoff, "backoffMax", "\(backoffMax): must not be below initialBackoff")
        try Configuration.check(
            inProgressRetriesMax >= 0, "inProgressRetriesMax", "\(inProgressRetriesMax): must not be negative")
        try Configuration.check(
            restartRetriesMax >= 0, "restartRetriesMax", "\(restartRetriesMax): must not be negative")
    }
}

extension NumbersClientConfiguration.LivenessPolicy {
    /// Checks every field of the policy, as ``NumbersClientConfiguration/validate()`` does (which names them under
    /// `liveness.`); the policy's initializer runs it too, and traps.
    public func validate() throws(NumbersClientConfiguration.ConfigurationError) {
        typealias Configuration = NumbersClientConfiguration
        try Configuration.check(
            pingTimeout > .zero, "pingTimeout", "\(pingTimeout): must be positive (a PING needs time to be answered)")
        if let tcpKeepaliveIdle {
            try Configuration.check(
                tcpKeepaliveIdle > .zero, "tcpKeepaliveIdle", "\(tcpKeepaliveIdle): must be positive (nil: off)")
        }
        try Configuration.check(
            tcpKeepaliveInterval > .zero, "tcpKeepaliveInterval", "\(tcpKeepaliveInterval): must be positive")
        if let tcpUserTimeout {
            try Configuration.check(
                tcpUserTimeout > .zero, "tcpUserTimeout",
                "\(tcpUserTimeout): must be positive (nil: the kernel's default)")
        }
    }
}
