/// DNS names and IP addresses for a certificate's subjectAltName extension, validated before they reach
/// OpenSSL's config syntax (a comma or colon in a name would otherwise inject another entry).
struct SubjectAlternativeNames {
    var dnsNames: [String]
    var ipAddresses: [String]
    /// Entries allowed in one certificate.
    static let entriesMax = 100
    /// Longest DNS name (RFC 1035).
    static let dnsNameBytesMax = 253

    /// `DNS:a,DNS:b,IP:127.0.0.1`, or nil when there are no names; throws on an invalid name.
    func extensionValue() throws -> String? {
        var entries: [String] = []
        for name in dnsNames {
            guard Self.isValidDNSName(name) else {
                throw TLSError(code: .certificateTooling, message: "invalid DNS name for a certificate: \(name)")
            }
            entries.append("DNS:\(name)")
        }
        for address in ipAddresses {
            guard TLSHostname(address) == .ipAddress(address) else {
                throw TLSError(code: .certificateTooling, message: "invalid IP address for a certificate: \(address)")
            }
            entries.append("IP:\(address)")
        }
        guard entries.count <= Self.entriesMax else {
            throw TLSError(code: .certificateTooling, message: "more than \(Self.entriesMax) subject alternative names")
        }
        var unique: [String] = []
        for entry in entries where !unique.contains(entry) {
            unique.append(entry)
        }
        return unique.isEmpty ? nil : unique.joined(separator: ",")
    }

    /// Letters, digits, hyphens and dots, with an optional leading `*.` wildcard label.
    static func isValidDNSName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= dnsNameBytesMax else {
            return false
        }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*", labels.count > 2 {
            labels.removeFirst()
        }
        return labels.allSatisfy { label in
            (1...63).contains(label.utf8.count)
                && label.utf8.allSatisfy { byte in
                    (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
                        || byte == 0x2d
                }
        }
    }
}
