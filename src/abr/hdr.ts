// How a package's manifests signal an HDR ladder, which ffmpeg 5.1's dash muxer does not. Pure.
// - HLS: VIDEO-RANGE=PQ or HLG on every EXT-X-STREAM-INF (a player that cannot show the range
//   skips the variant instead of showing it wrong).
// - DASH (DASH-IF IOP, the CICP code points of ISO/IEC 23001-8): on the video AdaptationSet, the
//   colour primaries (9, BT.2020) and matrix (9, BT.2020 non-constant) as SupplementalProperty;
//   PQ's transfer (16) as EssentialProperty, so a client that does not know it leaves the set
//   alone; HLG, made to play on a BT.2020 SDR display, as EssentialProperty 14 (BT.2020 10-bit)
//   with SupplementalProperty 18 (HLG).
import { NommerError } from '../errors.js';
import type { HdrInfo } from '../ffmpeg/types.js';

const CICP = 'urn:mpeg:mpegB:cicp:';

/** The master playlist with VIDEO-RANGE on each variant (replacing any there). */
export function withVideoRange(master: string, transfer: HdrInfo['transfer']): string {
  const range = transfer === 'pq' ? 'PQ' : 'HLG';
  return master
    .split('\n')
    .map((line) =>
      line.startsWith('#EXT-X-STREAM-INF:')
        ? `${line.replace(/,VIDEO-RANGE=[A-Z]+/, '').replace(/\r$/, '')},VIDEO-RANGE=${range}${line.endsWith('\r') ? '\r' : ''}`
        : line,
    )
    .join('\n');
}

/** The DASH descriptors of an HDR video adaptation set. */
export function colourProperties(transfer: HdrInfo['transfer']): string[] {
  const prop = (kind: 'Essential' | 'Supplemental', name: string, value: number) =>
    `<${kind}Property schemeIdUri="${CICP}${name}" value="${value}"/>`;
  return [
    ...(transfer === 'pq'
      ? [prop('Essential', 'TransferCharacteristics', 16)]
      : [prop('Essential', 'TransferCharacteristics', 14), prop('Supplemental', 'TransferCharacteristics', 18)]),
    prop('Supplemental', 'ColourPrimaries', 9),
    prop('Supplemental', 'MatrixCoefficients', 9),
  ];
}

/** The MPD with the colour descriptors first in every video AdaptationSet. */
export function withColourProperties(mpd: string, transfer: HdrInfo['transfer']): string {
  let sets = 0;
  const out = mpd.replace(
    /^([ \t]*)(<AdaptationSet\b[^>]*\bcontentType="video"[^>]*>)/gm,
    (_, indent: string, open: string) => {
      sets++;
      const inner = indent + (indent.startsWith('\t') || indent === '' ? '\t' : '  ');
      return `${indent}${open}${colourProperties(transfer)
        .map((p) => `\n${inner}${p}`)
        .join('')}`;
    },
  );
  if (sets === 0)
    throw new NommerError('INTERNAL', 'manifest.mpd has no video AdaptationSet to signal HDR on', {
      hint: 'the MPD should be the one the dash muxer wrote for the package',
    });
  return out;
}

/** The manifests with each short codecs string (`from`) replaced by its full form (`to`): in the
 * MPD's codecs attributes and the HLS master's CODECS lists. */
export function withCodecs(text: string, full: ReadonlyMap<string, string>): string {
  return text.replace(/(codecs="|CODECS=")([^"]*)"/g, (_, head: string, list: string) => {
    const codecs = list.split(',').map((c) => full.get(c) ?? c);
    return `${head}${codecs.join(',')}"`;
  });
}
