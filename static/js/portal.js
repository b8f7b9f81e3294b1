// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Tell the server the browser's time zone so it can show times in it (with the offset).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* old browser: times stay in UTC, still labelled with their offset */ }
})();
