/**
 * Mozilla's "intermediate" server-side TLS profile (https://wiki.mozilla.org/Security/Server_Side_TLS,
 * v5.7): TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy, and no server preference, so
 * that clients without AES hardware can pick ChaCha20.
 */

/** TLS 1.3 suites, then TLS 1.2 ciphers, in Mozilla's order (OpenSSL names). */
export const INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
].join(':')

/** Key-exchange groups. */
export const INTERMEDIATE_CURVES = 'X25519:prime256v1:secp384r1'

/** OpenSSL/BoringSSL option bits, for runtimes that take `secureOptions` rather than versions. */
export const SSL_OP_NO_TLSv1 = 0x0400_0000
export const SSL_OP_NO_TLSv1_1 = 0x1000_0000
export const SSL_OP_NO_TLSv1_2 = 0x0800_0000
/** Don't prefer the server's cipher order (Mozilla intermediate: `ssl_prefer_server_ciphers off`). */
export const SSL_OP_CIPHER_SERVER_PREFERENCE = 0x0040_0000
