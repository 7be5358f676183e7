import Foundation

/// A listen address as `twilio-sim --listen` takes it (`HOST:PORT`), and a host as a URL names it. An IPv6 address
/// is written in brackets in both (`[::1]:8443`, `https://[::1]:8443`), but the bind takes it without them.
public enum ListenAddress {
    /// The host to bind (an IPv6 address without its brackets) and the port (0...65535) of `HOST:PORT` or
    /// `[IPV6]:PORT`; nil when it is not one. Without brackets the port follows the last colon, so `::1:8443` is
    /// `::1` and 8443.
    public static func parse(_ text: String) -> (host: String, port: Int)? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText),
            (0...65535).contains(port)
        else { return nil }
        return (String(host), port)
    }

    /// `host` as the host part of a URL: an IPv6 address (it has a colon) in brackets, its zone's `%` escaped as
    /// `%25` (RFC 6874); any other host as it is.
    public static func urlHost(_ host: String) -> String {
        guard host.contains(":"), !host.hasPrefix("[") else { return host }
        return "[" + host.replacingOccurrences(of: "%", with: "%25") + "]"
    }
}
