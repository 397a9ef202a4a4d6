package config

// The name checks below were regular expressions compiled when the program started; with their
// {1,64} repetitions that was the costliest start-up work in the whole service (a few thousand
// allocations), paid on every boot before the phone could register.

// isExtension: a dialable number, 1-15 digits, what phones' keypads send.
func isExtension(s string) bool {
	if len(s) < 1 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isName: an account's username or a host name the registrar answers to: 1-64 letters, digits,
// '.', '_' or '-', starting with a letter or digit.
func isName(s string) bool {
	if len(s) < 1 || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-' {
			return false
		}
	}
	return true
}

// isSIPUser: the user part of a SIP URI (RFC 3261 §25.1: user = 1*( unreserved / escaped /
// user-unreserved )), as an external registrar may name the phone ("5002", "rpi", "pi.office"):
// 1-64 characters or %XX escapes.
func isSIPUser(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		case isAlnum(c) || contains(`-_.!~*'()&=+$,;?/`, c):
		default:
			return false
		}
		n++
	}
	return n >= 1 && n <= 64
}

// isDialable: a speed-dial entry, a number or SIP user: 1-64 letters, digits or *#+._-.
func isDialable(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && !contains("*#+._-", s[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func contains(set string, c byte) bool {
	for i := 0; i < len(set); i++ {
		if set[i] == c {
			return true
		}
	}
	return false
}
