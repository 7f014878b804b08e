// What the probe tells about an input; the preset compiler decides from this alone.

export interface VideoStreamInfo {
  index: number;
  codec: string;
  /** Coded size, before rotation. */
  width: number;
  height: number;
  /** Size as displayed: width/height swapped when rotation is 90 or 270; sample aspect applied. */
  displayWidth: number;
  displayHeight: number;
  /** Clockwise display rotation in degrees from side data or the rotate tag: 0, 90, 180, 270. */
  rotation: number;
  /** Average frame rate (frames/s); from avg_frame_rate, falling back to r_frame_rate. */
  fps: number;
  /** ffprobe's r_frame_rate and avg_frame_rate, e.g. "30000/1001". */
  rFrameRate: string;
  avgFrameRate: string;
  /** True when r_frame_rate and avg_frame_rate disagree noticeably (variable frame rate). */
  vfr: boolean;
  /** From the stream header when known (nb_frames), else undefined. */
  frameCount?: number;
  /** field_order is tt/bb/tb/bt. */
  interlaced: boolean;
  fieldOrder?: string;
  pixFmt?: string;
  /** Bit depth of the source pixel format (8, 10, 12). */
  bitDepth: number;
  colorRange?: string;
  colorSpace?: string;
  colorTransfer?: string;
  colorPrimaries?: string;
  /** Set when the transfer is PQ (HDR10) or HLG: what ffmpeg/hdr.ts found (see there). */
  hdr?: HdrInfo;
  /** Seconds. */
  startTime: number;
  /** An attached picture (cover art), not real video. */
  attachedPic: boolean;
}

export interface AudioStreamInfo {
  index: number;
  codec: string;
  channels: number;
  channelLayout?: string;
  sampleRate: number;
  startTime: number;
}

export interface ProbeInfo {
  /** ffprobe format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  format: string;
  /** Seconds; 0 when unknown (e.g. a single image). */
  duration: number;
  sizeBytes: number;
  /** bits/s of the whole file when known. */
  bitRate?: number;
  /** The main video stream (not cover art), if any. */
  video?: VideoStreamInfo;
  /** The main audio stream, if any. */
  audio?: AudioStreamInfo;
}

/** A mastering display (SMPTE ST 2086): CIE 1931 xy chromaticities and luminance in cd/m². */
export interface MasteringDisplay {
  red: [number, number];
  green: [number, number];
  blue: [number, number];
  whitePoint: [number, number];
  maxLuminance: number;
  minLuminance: number;
}

/** Content light level (CTA-861.3), cd/m². */
export interface ContentLight {
  maxCll: number;
  maxFall: number;
}

/** What an HDR source carries: its transfer, its static metadata, and the dynamic metadata
 * nommer finds but does not carry (Dolby Vision, HDR10+). */
export interface HdrInfo {
  /** pq: SMPTE ST 2084 (HDR10); hlg: ARIB STD-B67. */
  transfer: 'pq' | 'hlg';
  masteringDisplay?: MasteringDisplay;
  contentLight?: ContentLight;
  /** Dynamic metadata present in the source and not carried into outputs, e.g. "Dolby Vision". */
  notCarried: string[];
}

/** What an output keeps of its source's HDR (its record's `hdr`). */
export interface OutputHdr {
  /** The source's transfer. */
  source: HdrInfo['transfer'];
  /** kept: 10-bit HDR with the source's transfer; tonemapped: 8-bit BT.709 SDR. */
  mode: 'kept' | 'tonemapped';
  transfer: HdrInfo['transfer'] | 'bt709';
  bitDepth: 8 | 10;
  masteringDisplay: boolean;
  contentLight: boolean;
  /** Dynamic metadata of the source that the output does not carry. */
  notCarried?: string[];
}
