/**
 * QR and bar codes read with the phone's camera or from a photo: the browser's own `BarcodeDetector` where it has one
 * (Android's Chrome), else ZXing (`@zxing/library`, pure JavaScript, bundled with the console and loaded when a page
 * that scans opens, so it is there without signal). Typing the code stays possible beside it.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { useSession } from "./ui";

type Detector = { detect(source: CanvasImageSource): Promise<{ rawValue: string }[]> };
declare const BarcodeDetector: { new (o?: { formats: string[] }): Detector; getSupportedFormats(): Promise<string[]> } | undefined;
const FORMATS = ["qr_code", "code_128", "code_39", "ean_13", "data_matrix"];

let zxing: Promise<typeof import("@zxing/library")> | null = null;
/** Loads ZXing ahead (a page that scans calls it when it opens, while there is signal). */
export const preloadScanner = () => {
  zxing ??= import("@zxing/library");
  return zxing;
};

let native: Promise<Detector | null> | null = null;
const nativeDetector = () => {
  native ??= (async () => {
    if (typeof BarcodeDetector === "undefined") return null;
    const formats = (await BarcodeDetector.getSupportedFormats().catch(() => [] as string[])).filter((f) => FORMATS.includes(f));
    return formats.length ? new BarcodeDetector({ formats }) : null;
  })();
  return native;
};

/** The code in an image (a video frame, a photo), or null. */
export async function decode(source: CanvasImageSource, width: number, height: number): Promise<string | null> {
  const d = await nativeDetector();
  if (d) {
    const found = await d.detect(source).catch(() => []);
    if (found[0]?.rawValue) return found[0].rawValue;
  }
  // ZXing reads luminance: the image drawn at most 1200 px on its long side
  const scale = Math.min(1, 1200 / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const g = canvas.getContext("2d", { willReadFrequently: true });
  if (!g) return null;
  g.drawImage(source, 0, 0, w, h);
  const rgba = g.getImageData(0, 0, w, h).data;
  const lum = new Uint8ClampedArray(w * h);
  for (let i = 0; i < lum.length; i++)
    lum[i] = ((rgba[i * 4] as number) * 299 + (rgba[i * 4 + 1] as number) * 587 + (rgba[i * 4 + 2] as number) * 114) / 1000;
  const z = await preloadScanner();
  const reader = new z.MultiFormatReader();
  const hints = new Map<import("@zxing/library").DecodeHintType, unknown>([
    [
      z.DecodeHintType.POSSIBLE_FORMATS,
      [z.BarcodeFormat.QR_CODE, z.BarcodeFormat.CODE_128, z.BarcodeFormat.CODE_39, z.BarcodeFormat.EAN_13, z.BarcodeFormat.DATA_MATRIX],
    ],
    [z.DecodeHintType.TRY_HARDER, true],
  ]);
  try {
    return reader.decode(new z.BinaryBitmap(new z.HybridBinarizer(new z.RGBLuminanceSource(lum, w, h))), hints).getText();
  } catch {
    return null; // (ZXing throws when it finds none)
  }
}

/** A "scan" button beside a field: the camera (read a few times a second) or a photo; the code found fills the field. */
export function Scanner(props: { field: string; onCode: (code: string) => void }) {
  const { t } = useSession();
  const [open, setOpen] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  const id = useRef(`scan-${Math.random().toString(36).slice(2, 8)}`).current;

  useEffect(() => {
    if (!open) return;
    let stream: MediaStream | null = null;
    let timer = 0;
    let stopped = false;
    void (async () => {
      try {
        if (!navigator.mediaDevices?.getUserMedia) throw new Error("no camera");
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
        if (stopped) {
          for (const tr of stream.getTracks()) tr.stop();
          return;
        }
        const v = video.current;
        if (!v) return;
        v.srcObject = stream;
        await v.play();
        const look = async () => {
          if (stopped) return;
          const code = v.videoWidth ? await decode(v, v.videoWidth, v.videoHeight) : null;
          if (code && !stopped) return found(code);
          timer = window.setTimeout(look, 300);
        };
        void look();
      } catch {
        setNote(t("scan.noCamera"));
      }
    })();
    return () => {
      stopped = true;
      clearTimeout(timer);
      for (const tr of stream?.getTracks() ?? []) tr.stop();
    };
  }, [open]);

  const found = (code: string) => {
    props.onCode(code.trim());
    setNote(null);
    setOpen(false);
  };
  const fromPhoto = async (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    setNote(t("scan.reading"));
    const bitmap = await createImageBitmap(file).catch(() => null);
    const code = bitmap ? await decode(bitmap, bitmap.width, bitmap.height) : null;
    bitmap?.close();
    input.value = "";
    if (code) found(code);
    else setNote(t("scan.none"));
  };

  return (
    <div class="scanner">
      <button type="button" class="secondary" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)}>
        {t("scan.open", { field: props.field })}
      </button>
      {open && (
        <div id={id} class="scan-panel">
          <video ref={video} muted playsInline aria-label={t("scan.camera", { field: props.field })} />
          <label for={`${id}-photo`}>{t("scan.fromPhoto", { field: props.field })}</label>
          <input id={`${id}-photo`} type="file" accept="image/*" onChange={fromPhoto} />
        </div>
      )}
      {note && (
        <p class="muted" role="status">
          {note}
        </p>
      )}
    </div>
  );
}
