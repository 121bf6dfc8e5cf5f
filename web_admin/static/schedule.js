// The schedule editor's live preview: what would be in force now with the windows as typed. Nothing is saved.
(function () {
  var form = document.getElementById("schedule-form");
  var out = document.getElementById("preview");
  if (!form || !out || !window.fetch) return;
  var timer = null;
  function ask() {
    fetch(form.dataset.preview, {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (j) { if (j && j.preview) out.textContent = j.preview; })
      .catch(function () {});
  }
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 300); });
  form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(ask, 100); });
})();
