/* Inside WeChat only (elsewhere it does nothing):
   - a page with a chat card (og: tags) sets WeChat's share cards through the JS-SDK, which
     ignores Open Graph: wx.config signed by the server (/api/v1/wechat/js-config), then
     updateAppMessageShareData (chats) and updateTimelineShareData (Moments);
   - a [data-wxpay] button hands the server's signed parameters to WeChat's cashier
     (WeixinJSBridge getBrandWCPayRequest) and goes to the order's return page, which asks
     WeChat Pay how it went. */
(function () {
  "use strict";
  if (navigator.userAgent.indexOf("MicroMessenger") < 0) return;

  function meta(name) {
    var tag = document.querySelector('meta[property="' + name + '"]');
    return tag ? tag.getAttribute("content") : "";
  }

  function shareCards() {
    var title = meta("og:title");
    if (!title) return;
    var url = location.href.split("#")[0];
    fetch("/api/v1/wechat/js-config?url=" + encodeURIComponent(url), { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (config) {
        if (!config) return;  // no Official Account here, or WeChat did not answer
        var script = document.createElement("script");
        script.src = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js";
        script.onload = function () {
          var wx = window.wx;
          wx.config({
            debug: false, appId: config.appId, timestamp: config.timestamp,
            nonceStr: config.nonceStr, signature: config.signature, jsApiList: config.jsApiList
          });
          wx.ready(function () {
            var card = { title: title, link: meta("og:url") || url, imgUrl: meta("og:image") };
            wx.updateAppMessageShareData(Object.assign({ desc: meta("og:description") }, card));
            wx.updateTimelineShareData(card);
          });
        };
        document.head.appendChild(script);
      });
  }

  function pay(button) {
    var data = button.dataset;
    var params = {
      appId: data.appId, timeStamp: data.timeStamp, nonceStr: data.nonceStr,
      package: data.package, signType: data.signType, paySign: data.paySign
    };
    window.WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (result) {
      if (result.err_msg === "get_brand_wcpay_request:cancel") {
        document.querySelector("[data-wxpay-cancelled]").hidden = false;
        return;
      }
      location.href = data.return;  // paid, or failed: the return page asks and says
    });
  }

  function bridged(then) {
    if (window.WeixinJSBridge) then();
    else document.addEventListener("WeixinJSBridgeReady", then, false);
  }

  shareCards();
  document.querySelectorAll("[data-wxpay]").forEach(function (button) {
    button.addEventListener("click", function () { bridged(function () { pay(button); }); });
  });
})();
