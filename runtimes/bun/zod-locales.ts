/**
 * zod without its translations, on Bun. fulcrum's config is checked with zod, whose entry point
 * re-exports every locale as `z.locales` (v4/locales/index.js: about 60 modules). Node's bundle
 * leaves them out (esbuild keeps only what is used); Bun runs the sources, so it loaded and kept
 * them all, unused: the messages are zod's English ones, which zod registers from
 * v4/locales/en.js itself, not through that index. Measured at idle after 200 requests, three runs
 * each: 263 -> 202 modules, VmRSS 62.5 -> 61.0-61.4 MB, JSC heap after a full collection 6.63 ->
 * 6.51 MB.
 */

/** The module behind `z.locales`: the index of every translation. */
export const ZOD_LOCALES_INDEX = /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/

/**
 * Load zod's locale index as an empty module (`z.locales` has no entries) in this process. Call it
 * before zod is first imported.
 */
export function skipZodLocales(): void {
  Bun.plugin({
    name: 'fulcrum: no zod locales',
    setup(build) {
      build.onLoad({ filter: ZOD_LOCALES_INDEX }, () => ({ contents: 'export {}', loader: 'js' }))
    },
  })
}
