// Starts Swagger UI for /api/v1/docs without inline script (our CSP forbids it).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var el = document.getElementById("swagger-ui");
    if (!el || typeof window.SwaggerUIBundle !== "function") { return; }
    var csrf = el.dataset.csrfToken;
    window.SwaggerUIBundle({
      url: el.dataset.openapiUrl,
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      deepLinking: true,
      // The default validator badge loads an image from swagger.io; nothing leaves our host.
      validatorUrl: null,
      presets: [window.SwaggerUIBundle.presets.apis],
      requestInterceptor: function (req) {
        if (csrf) { req.headers["X-CSRFToken"] = csrf; }
        return req;
      }
    });
  });
})();
