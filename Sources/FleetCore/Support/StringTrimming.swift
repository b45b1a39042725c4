extension StringProtocol {
    /// Without leading and trailing spaces, tabs and line breaks.
    public var trimmedSpaces: String {
        trimming { $0 == " " || $0 == "\t" || $0.isNewline }
    }

    /// Without leading and trailing characters for which `isTrimmed` holds.
    public func trimming(_ isTrimmed: (Character) -> Bool) -> String {
        String(drop(while: isTrimmed).reversed().drop(while: isTrimmed).reversed())
    }
}

extension String {
    /// The longest prefix of at most `maxBytes` UTF-8 bytes that ends on a character boundary
    /// (event limits count bytes, not characters).
    public func utf8Prefix(_ maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        var end = startIndex
        var bytes = 0
        for index in indices {
            let next = self.index(after: index)
            let size = self.utf8.distance(from: index, to: next)
            if bytes + size > maxBytes { break }
            bytes += size
            end = next
        }
        return String(self[..<end])
    }

    /// The longest suffix of at most `maxBytes` UTF-8 bytes that starts on a character boundary.
    public func utf8Suffix(_ maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        var start = endIndex
        var bytes = 0
        while start > startIndex {
            let previous = index(before: start)
            let size = utf8.distance(from: previous, to: start)
            if bytes + size > maxBytes { break }
            bytes += size
            start = previous
        }
        return String(self[start...])
    }
}
