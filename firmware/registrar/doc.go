// Package registrar is the appliance's SIP registrar, location service and stateful proxy for the
// office phones, built on sipgo's transport and transaction layers.
//
// Implemented:
//   - REGISTER processing, RFC 3261 §10.3, with digest authentication (RFC 3261 §22, RFC 2617
//     §3.2: MD5, qop=auth, signed stateless nonces with lifetime, stale=true and nonce-count checks);
//   - NAT handling with received/rport, RFC 3581 §4, and the source address kept per binding;
//   - a stateful forking proxy, RFC 3261 §16: Record-Route (§16.6 step 4), CANCEL (§16.10),
//     loose routing of in-dialog requests (§16.4, §16.12), 2xx forwarding (§16.7);
//   - OPTIONS keep-alive ("qualify") of each binding, RFC 3261 §11;
//   - request sanity (RFC 4475) through package sipcheck, and a per-source flood and
//     authentication-failure ban that drops packets before they are parsed.
package registrar
